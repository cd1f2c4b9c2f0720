//! The part of a bucket's policy or CORS configuration that one resource owns.
//!
//! S3 replaces these documents whole, so every change is a merge: read the document, drop
//! the entries this owner wrote before, put its current entries in their place, write, and
//! read back. Entries are told apart by their id (`Sid`, CORS `ID`), which starts with a
//! prefix derived from the owner. Every other entry and every top-level field (`Version`,
//! `Id`) is carried as parsed JSON and written back as it was read.

use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
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
}

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
    let existing = match document.get(shape.entries) {
        None => Vec::new(),
        Some(entries @ (Value::Array(_) | Value::Object(_))) => entry_list(entries),
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
    let at = position.unwrap_or(kept.len());
    kept.splice(at..at, owned.entries.iter().cloned());
    if kept.is_empty() {
        return Ok(None);
    }
    if current.is_none() {
        for (key, value) in shape.new_fields {
            document.insert(key.to_string(), Value::String(value.to_string()));
        }
    }
    document.insert(shape.entries.to_string(), Value::Array(kept));
    Ok(Some(Value::Object(document)))
}

/// Why a bucket document could not be brought to what the resource wants.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("bucket {bucket:?} does not exist; check the Bucket property")]
    NoSuchBucket { bucket: String },
    #[error("could not read the {document} of bucket {bucket:?}: {reason}")]
    Read {
        document: &'static str,
        bucket: String,
        reason: String,
    },
    #[error("could not write the {document} of bucket {bucket:?}: {reason}")]
    Write {
        document: &'static str,
        bucket: String,
        reason: String,
    },
    #[error("the {document} of bucket {bucket:?} cannot be merged, so it was left alone: {reason}")]
    Unmergeable {
        document: &'static str,
        bucket: String,
        reason: String,
    },
    #[error("nothing was written to bucket {bucket:?}: {reason}")]
    OverLimit { bucket: String, reason: String },
    #[error(
        "the {document} of bucket {bucket:?} still lacks this resource's entries after \
         {rounds} writes; something else keeps replacing it"
    )]
    NotInPlace {
        document: &'static str,
        bucket: String,
        rounds: usize,
    },
}

/// A bucket's policy or CORS configuration, read and written whole.
pub trait BucketDocument: Sync {
    const SHAPE: Shape;

    fn bucket(&self) -> &str;

    /// The document as JSON; `None` when the bucket has none.
    fn read(&self) -> impl Future<Output = Result<Option<Value>, DocumentError>> + Send;

    /// Writes `document`, or deletes the bucket's document when `None`.
    fn write(
        &self,
        document: Option<&Value>,
    ) -> impl Future<Output = Result<(), DocumentError>> + Send;

    /// Why S3 would refuse `document` for its size, if it would.
    fn over_limit(document: &Value) -> Option<String>;

    /// A failed S3 call as a [`DocumentError`], told apart by its error code.
    fn failure<E>(&self, error: &E, writing: bool) -> DocumentError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let bucket = self.bucket().to_string();
        if error.code() == Some("NoSuchBucket") {
            return DocumentError::NoSuchBucket { bucket };
        }
        let document = Self::SHAPE.name;
        let reason = DisplayErrorContext(error).to_string();
        if writing {
            DocumentError::Write {
                document,
                bucket,
                reason,
            }
        } else {
            DocumentError::Read {
                document,
                bucket,
                reason,
            }
        }
    }
}

/// How hard to try before giving up on getting the owner's entries in place.
#[derive(Debug, Clone, Copy)]
pub struct Rounds {
    /// Writes after which the entries may still be missing. Another writer replacing the
    /// whole document between our read and write is the reason to write again; one that
    /// keeps doing it is a fight this function should not keep up.
    pub max_writes: usize,
    /// S3 bucket configuration is eventually consistent: a read right after a write may
    /// still show the old document. Before merging again, wait this long times the round.
    pub pause: Duration,
}

impl Rounds {
    pub const S3: Rounds = Rounds {
        max_writes: 3,
        pause: Duration::from_secs(2),
    };

    /// Brings `document` to hold exactly `owned` of its owner's entries, keeping everything
    /// else. Limits are checked before every write; nothing is written past them.
    pub async fn put_owned<D: BucketDocument>(
        &self,
        document: &D,
        owned: &OwnedEntries,
    ) -> Result<(), DocumentError> {
        let shape = D::SHAPE;
        let bucket = || document.bucket().to_string();
        let mut current = document.read().await?;
        for round in 1..=self.max_writes {
            let merged = merge(&shape, current.as_ref(), owned).map_err(|reason| {
                DocumentError::Unmergeable {
                    document: shape.name,
                    bucket: bucket(),
                    reason,
                }
            })?;
            if merged == current {
                return Ok(());
            }
            if let Some(reason) = merged.as_ref().and_then(D::over_limit) {
                return Err(DocumentError::OverLimit {
                    bucket: bucket(),
                    reason,
                });
            }
            document.write(merged.as_ref()).await?;
            current = document.read().await?;
            if owned.in_place(&shape, current.as_ref()) {
                return Ok(());
            }
            tracing::warn!(
                bucket = document.bucket(),
                document = shape.name,
                round,
                "this resource's entries are missing after writing"
            );
            if round < self.max_writes {
                tokio::time::sleep(self.pause * round as u32).await;
                current = document.read().await?;
            }
        }
        Err(DocumentError::NotInPlace {
            document: shape.name,
            bucket: bucket(),
            rounds: self.max_writes,
        })
    }
}

/// [`Rounds::put_owned`] with S3's rounds.
pub async fn put_owned<D: BucketDocument>(
    document: &D,
    owned: &OwnedEntries,
) -> Result<(), DocumentError> {
    Rounds::S3.put_owned(document, owned).await
}

/// Removes every entry of the owner; a bucket that is gone has nothing left to remove.
pub async fn remove_owned<D: BucketDocument>(
    document: &D,
    prefix: &str,
) -> Result<(), DocumentError> {
    match put_owned(document, &OwnedEntries::none(prefix)).await {
        Err(DocumentError::NoSuchBucket { bucket }) => {
            tracing::info!(bucket, "the bucket is gone; nothing to remove");
            Ok(())
        }
        done => done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CORS: Shape = Shape {
        name: "CORS configuration",
        entries: "CORSRules",
        id: "ID",
        new_fields: &[],
    };
    const POLICY: Shape = Shape {
        name: "bucket policy",
        entries: "Statement",
        id: "Sid",
        new_fields: &[("Version", "2012-10-17")],
    };

    fn owned(prefix: &str, ids: &[&str]) -> OwnedEntries {
        OwnedEntries {
            prefix: prefix.into(),
            entries: ids
                .iter()
                .map(|id| json!({"ID": id, "New": true}))
                .collect(),
        }
    }

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
        assert_eq!(
            with_ours["Statement"],
            json!([{"Sid": "Only"}, {"Sid": "VAx1"}])
        );
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

    /// A CORS configuration in memory, where another writer may replace the whole
    /// document with its own version right after each of our first `clobbered` writes.
    struct Contested {
        stored: std::sync::Mutex<Option<Value>>,
        theirs: Option<Value>,
        clobbered: usize,
        writes: std::sync::atomic::AtomicUsize,
    }

    impl Contested {
        fn new(theirs: Value, clobbered: usize) -> Self {
            Contested {
                stored: std::sync::Mutex::new(Some(theirs.clone())),
                theirs: Some(theirs),
                clobbered,
                writes: Default::default(),
            }
        }

        fn stored(&self) -> Option<Value> {
            self.stored.lock().expect("not poisoned").clone()
        }

        fn writes(&self) -> usize {
            self.writes.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl BucketDocument for Contested {
        const SHAPE: Shape = CORS;

        fn bucket(&self) -> &str {
            "contested"
        }

        async fn read(&self) -> Result<Option<Value>, DocumentError> {
            Ok(self.stored())
        }

        async fn write(&self, document: Option<&Value>) -> Result<(), DocumentError> {
            let n = self
                .writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            let now = if n <= self.clobbered {
                self.theirs.clone()
            } else {
                document.cloned()
            };
            *self.stored.lock().expect("not poisoned") = now;
            Ok(())
        }

        fn over_limit(document: &Value) -> Option<String> {
            (document["CORSRules"].as_array().map_or(0, Vec::len) > 3)
                .then(|| "more than 3 rules".to_string())
        }
    }

    const QUICK: Rounds = Rounds {
        max_writes: 3,
        pause: Duration::from_millis(1),
    };

    #[tokio::test]
    async fn entries_another_writer_replaced_are_merged_in_again() {
        let bucket = Contested::new(json!({"CORSRules": [{"ID": "theirs"}]}), 1);
        QUICK
            .put_owned(&bucket, &owned("mine-", &["mine-1"]))
            .await
            .expect("in place on the second write");
        assert_eq!(bucket.writes(), 2);
        assert_eq!(
            bucket.stored(),
            Some(json!({"CORSRules": [{"ID": "theirs"}, {"ID": "mine-1", "New": true}]}))
        );
    }

    #[tokio::test]
    async fn a_writer_that_keeps_replacing_the_document_is_given_up_on() {
        let bucket = Contested::new(json!({"CORSRules": [{"ID": "theirs"}]}), usize::MAX);
        let failed = QUICK.put_owned(&bucket, &owned("mine-", &["mine-1"])).await;
        assert!(
            matches!(failed, Err(DocumentError::NotInPlace { rounds: 3, .. })),
            "{failed:?}"
        );
        assert_eq!(bucket.writes(), 3);
    }

    #[tokio::test]
    async fn nothing_is_written_past_the_limit_or_when_nothing_changes() {
        let theirs = json!({"CORSRules": [{"ID": "a"}, {"ID": "b"}]});
        let bucket = Contested::new(theirs.clone(), 0);
        let refused = QUICK
            .put_owned(&bucket, &owned("mine-", &["mine-1", "mine-2"]))
            .await;
        assert!(
            matches!(refused, Err(DocumentError::OverLimit { .. })),
            "{refused:?}"
        );
        assert_eq!((bucket.writes(), bucket.stored()), (0, Some(theirs)));

        let ours = owned("mine-", &["mine-1"]);
        QUICK.put_owned(&bucket, &ours).await.expect("written");
        QUICK
            .put_owned(&bucket, &ours)
            .await
            .expect("already in place");
        assert_eq!(bucket.writes(), 1);
    }
}
