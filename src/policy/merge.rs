//! The part of a bucket's policy or CORS configuration that one resource owns.
//!
//! S3 replaces these documents whole, so every change is a merge: read the document, drop
//! the entries this owner wrote before, put its current entries in their place, write, and
//! read back. Entries are told apart by their id (`Sid`, CORS `ID`), which starts with a
//! prefix derived from the owner. Every other entry and every top-level field (`Version`,
//! `Id`) is carried as parsed JSON and written back as it was read.
//!
//! This module is the pure merge; `aws::bucket_documents` reads and writes the documents.

use serde_json::{Map, Value};

/// How one kind of document holds its entries.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// What the document is called in messages, e.g. "bucket policy".
    pub name: &'static str,
    /// The top-level field listing the entries: `Statement`, `CORSRules`.
    pub entries: &'static str,
    /// The field of an entry that names it: `Sid`, `ID`.
    pub id: &'static str,
    /// Top-level fields of a document this project starts from nothing.
    pub new_fields: &'static [(&'static str, &'static str)],
    /// Whether a lone entry may be written as an object instead of a list of one (IAM's
    /// `"Statement": {...}`), so that such a document is restored in its own form.
    pub lone_entry_as_object: bool,
}

/// A bucket policy: statements named by `Sid`.
pub const BUCKET_POLICY: Shape = Shape {
    name: "bucket policy",
    entries: "Statement",
    id: "Sid",
    new_fields: &[("Version", "2012-10-17")],
    lone_entry_as_object: true,
};

/// A CORS configuration: rules named by `ID`, the first match winning.
pub const CORS_CONFIGURATION: Shape = Shape {
    name: "CORS configuration",
    entries: "CORSRules",
    id: "ID",
    new_fields: &[],
    lone_entry_as_object: false,
};

/// The entries one resource wants in one document, each named with its owner's prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedEntries {
    pub prefix: String,
    pub entries: Vec<Value>,
}

impl OwnedEntries {
    /// No entries: what a delete leaves behind.
    pub fn none(prefix: impl Into<String>) -> Self {
        OwnedEntries {
            prefix: prefix.into(),
            entries: Vec::new(),
        }
    }

    /// The ids of the wanted entries, in order.
    pub fn ids(&self, shape: &Shape) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|entry| entry_id(shape, entry))
            .map(str::to_string)
            .collect()
    }

    fn owns(&self, shape: &Shape, entry: &Value) -> bool {
        entry_id(shape, entry).is_some_and(|id| id.starts_with(&self.prefix))
    }

    /// Whether `document` holds exactly the wanted entries of this owner, judged by id:
    /// S3 may rewrite an entry's content (an account id becomes a root ARN), never its id.
    pub fn in_place(&self, shape: &Shape, document: Option<&Value>) -> bool {
        let mut found: Vec<String> = document
            .and_then(|d| d.get(shape.entries))
            .map(entry_list)
            .unwrap_or_default()
            .into_iter()
            .filter(|entry| self.owns(shape, entry))
            .filter_map(|entry| entry_id(shape, entry).map(str::to_string))
            .collect();
        let mut wanted = self.ids(shape);
        found.sort();
        wanted.sort();
        found == wanted
    }
}

/// The entries of `document` whose id starts with `prefix`, in document order.
pub fn entries_of(shape: &Shape, document: Option<&Value>, prefix: &str) -> Vec<Value> {
    document
        .and_then(|d| d.get(shape.entries))
        .map(entry_list)
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| entry_id(shape, entry).is_some_and(|id| id.starts_with(prefix)))
        .cloned()
        .collect()
}

fn entry_id<'v>(shape: &Shape, entry: &'v Value) -> Option<&'v str> {
    entry.get(shape.id).and_then(Value::as_str)
}

/// A single entry (IAM allows `"Statement": {...}`) is a list of one.
fn entry_list(entries: &Value) -> Vec<&Value> {
    match entries {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    }
}

/// The document with `owned` in place of whatever its owner had there before; `None` when
/// no entry is left (the document is then deleted).
///
/// The owner's entries go where its first entry was, or last when it had none: a CORS
/// rule earlier in the list wins, so new rules never take precedence over the bucket's own.
/// A document that holds nothing of the owner's and gets nothing is returned unchanged.
///
/// A lone entry written as an object (a policy's `"Statement": {...}`) must become a list
/// to hold the owner's entries too; they then go first, so that when they leave again the
/// entry left behind them is known to have stood alone, and is written back as an object.
/// (Statement order means nothing to IAM.)
pub fn merge(
    shape: &Shape,
    current: Option<&Value>,
    owned: &OwnedEntries,
) -> Result<Option<Value>, String> {
    let mut document = match current {
        None => Map::new(),
        Some(Value::Object(fields)) => fields.clone(),
        Some(_) => return Err("it is not a JSON object".to_string()),
    };
    let (existing, lone_object) = match document.get(shape.entries) {
        None => (Vec::new(), false),
        Some(entries @ Value::Array(_)) => (entry_list(entries), false),
        Some(entry @ Value::Object(_)) => (vec![entry], shape.lone_entry_as_object),
        Some(_) => {
            return Err(format!(
                "its {} is neither a list nor an object",
                shape.entries
            ));
        }
    };
    if existing.iter().all(|entry| !owned.owns(shape, entry)) && owned.entries.is_empty() {
        return Ok(current.cloned());
    }
    let mut kept: Vec<Value> = Vec::with_capacity(existing.len() + owned.entries.len());
    let mut position = None;
    for entry in existing {
        if owned.owns(shape, entry) {
            position.get_or_insert(kept.len());
        } else {
            kept.push(entry.clone());
        }
    }
    let ours_first = position == Some(0) || lone_object;
    let at = if lone_object {
        0
    } else {
        position.unwrap_or(kept.len())
    };
    kept.splice(at..at, owned.entries.iter().cloned());
    if kept.is_empty() {
        return Ok(None);
    }
    if current.is_none() {
        for (key, value) in shape.new_fields {
            document.insert(key.to_string(), Value::String(value.to_string()));
        }
    }
    let entries = match kept.len() {
        1 if shape.lone_entry_as_object && ours_first && owned.entries.is_empty() => kept.remove(0),
        _ => Value::Array(kept),
    };
    document.insert(shape.entries.to_string(), entries);
    Ok(Some(Value::Object(document)))
}
/// Entries `{"ID": id, "New": true}` for tests.
#[cfg(test)]
pub(crate) fn owned(prefix: &str, ids: &[&str]) -> OwnedEntries {
    OwnedEntries {
        prefix: prefix.into(),
        entries: ids
            .iter()
            .map(|id| serde_json::json!({"ID": id, "New": true}))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CORS: Shape = CORS_CONFIGURATION;
    const POLICY: Shape = BUCKET_POLICY;

    #[test]
    fn owned_entries_take_the_place_of_the_old_ones_and_foreign_ones_stay_in_order() {
        let current = json!({"CORSRules": [
            {"ID": "theirs-1"}, {"ID": "mine-1"}, {"AllowedOrigins": ["*"]}, {"ID": "mine-2"}
        ]});
        let merged = merge(&CORS, Some(&current), &owned("mine-", &["mine-1"])).unwrap();
        assert_eq!(
            merged,
            Some(json!({"CORSRules": [
                {"ID": "theirs-1"}, {"ID": "mine-1", "New": true}, {"AllowedOrigins": ["*"]}
            ]}))
        );
    }

    #[test]
    fn new_entries_go_last_so_the_buckets_own_rules_keep_precedence() {
        let current = json!({"CORSRules": [{"ID": "a"}, {"ID": "b"}]});
        let merged = merge(
            &CORS,
            Some(&current),
            &owned("mine-", &["mine-1", "mine-2"]),
        );
        let ids: Vec<_> = merged.unwrap().unwrap()["CORSRules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ID"].clone())
            .collect();
        assert_eq!(
            ids,
            [json!("a"), json!("b"), json!("mine-1"), json!("mine-2")]
        );
    }

    #[test]
    fn top_level_fields_and_foreign_statements_survive_and_removing_all_ours_restores_them() {
        let original = json!({"Version": "2008-10-17", "Id": "Theirs", "Statement": [
            {"Sid": "Keep", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]});
        let ours = OwnedEntries {
            prefix: "VAabc".into(),
            entries: vec![json!({"Sid": "VAabcOne", "Effect": "Allow"})],
        };
        let merged = merge(&POLICY, Some(&original), &ours).unwrap().unwrap();
        assert_eq!(merged["Version"], "2008-10-17");
        assert_eq!(merged["Id"], "Theirs");
        assert_eq!(merged["Statement"].as_array().unwrap().len(), 2);
        let restored = merge(&POLICY, Some(&merged), &OwnedEntries::none("VAabc")).unwrap();
        assert_eq!(restored, Some(original));
    }

    #[test]
    fn a_document_with_nothing_left_is_deleted_and_one_made_from_nothing_gets_a_version() {
        let made = merge(
            &POLICY,
            None,
            &OwnedEntries {
                prefix: "VAx".into(),
                entries: vec![json!({"Sid": "VAx1"})],
            },
        )
        .unwrap();
        assert_eq!(
            made,
            Some(json!({"Version": "2012-10-17", "Statement": [{"Sid": "VAx1"}]}))
        );
        assert_eq!(
            merge(&POLICY, made.as_ref(), &OwnedEntries::none("VAx")),
            Ok(None)
        );
        assert_eq!(merge(&POLICY, None, &OwnedEntries::none("VAx")), Ok(None));
    }

    #[test]
    fn a_single_statement_object_is_left_as_it_is_when_nothing_of_ours_changes() {
        let current = json!({"Version": "2012-10-17", "Statement": {"Sid": "Only"}});
        let merged = merge(&POLICY, Some(&current), &OwnedEntries::none("VAx")).unwrap();
        assert_eq!(merged, Some(current.clone()));
        let with_ours = merge(
            &POLICY,
            Some(&current),
            &OwnedEntries {
                prefix: "VAx".into(),
                entries: vec![json!({"Sid": "VAx1"})],
            },
        )
        .unwrap()
        .unwrap();
        // Ours go first, so that the lone statement is known to have stood alone...
        assert_eq!(
            with_ours["Statement"],
            json!([{"Sid": "VAx1"}, {"Sid": "Only"}])
        );
        // ...and is written back as the object it was when ours leave.
        let restored = merge(&POLICY, Some(&with_ours), &OwnedEntries::none("VAx")).unwrap();
        assert_eq!(restored, Some(current));
    }

    #[test]
    fn a_lone_statement_written_as_a_list_stays_a_list() {
        let current = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Only"}]});
        let ours = OwnedEntries {
            prefix: "VAx".into(),
            entries: vec![json!({"Sid": "VAx1"})],
        };
        let with_ours = merge(&POLICY, Some(&current), &ours).unwrap();
        let restored = merge(&POLICY, with_ours.as_ref(), &OwnedEntries::none("VAx")).unwrap();
        assert_eq!(restored, Some(current));
    }

    #[test]
    fn another_owners_entries_are_foreign() {
        let current = json!({"CORSRules": [{"ID": "va-aaaa-1"}, {"ID": "va-bbbb-1"}]});
        let merged = merge(&CORS, Some(&current), &OwnedEntries::none("va-aaaa-")).unwrap();
        assert_eq!(merged, Some(json!({"CORSRules": [{"ID": "va-bbbb-1"}]})));
    }

    #[test]
    fn a_document_of_an_unexpected_shape_is_not_touched() {
        let odd = json!({"Statement": "everything"});
        assert!(merge(&POLICY, Some(&odd), &owned("VA", &[])).is_err());
        assert!(merge(&POLICY, Some(&json!([1])), &owned("VA", &[])).is_err());
    }

    #[test]
    fn in_place_compares_ids_only() {
        let wanted = owned("mine-", &["mine-1", "mine-2"]);
        let rewritten = json!({"CORSRules": [{"ID": "mine-2"}, {"ID": "x"}, {"ID": "mine-1"}]});
        assert!(wanted.in_place(&CORS, Some(&rewritten)));
        let stale = json!({"CORSRules": [{"ID": "mine-1"}, {"ID": "mine-3"}]});
        assert!(!wanted.in_place(&CORS, Some(&stale)));
        assert!(!wanted.in_place(&CORS, None));
        assert!(OwnedEntries::none("mine-").in_place(&CORS, None));
    }
}
