//! Reading `ResourceProperties` the way CloudFormation sends them.
//!
//! CloudFormation turns every scalar into a string (`"true"`, `"43200"`), so readers accept
//! both forms. A reader never stops at the first problem: each one is recorded with its
//! property path (`Locations[1].Prefix`) and all of them are reported together, before any
//! AWS call is made.

use std::cell::RefCell;
use std::fmt;

use serde_json::{Map, Value};

/// Properties CloudFormation adds on its own; they are never ours to validate.
const CLOUDFORMATION_PROPERTIES: [&str; 2] = ["ServiceToken", "ServiceTimeout"];

/// One thing wrong with the properties, with the path of the property it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in one request's properties.
#[derive(Debug, Default)]
pub struct Problems(RefCell<Vec<Problem>>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&self, path: impl Into<String>, message: impl Into<String>) {
        self.0.borrow_mut().push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    pub fn list(&self) -> Vec<Problem> {
        self.0.borrow().clone()
    }

    /// `Ok(value)` when nothing was recorded, otherwise every problem.
    pub fn into_result<T>(self, value: T) -> Result<T, InvalidProperties> {
        let problems = self.0.into_inner();
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(InvalidProperties(problems))
        }
    }
}

/// The properties were rejected; the message lists every problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidProperties(pub Vec<Problem>);

impl InvalidProperties {
    pub fn problems(&self) -> &[Problem] {
        &self.0
    }
}

impl fmt::Display for InvalidProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid properties: ")?;
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidProperties {}

/// A property whose value is one of a fixed set of names. The names are declared once,
/// here, and both parsing and the "must be one of" message come from them.
pub trait Choice: Copy + PartialEq + 'static {
    const CHOICES: &'static [(&'static str, Self)];

    /// The name this value is written as.
    fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, value)| *value == self)
            .map(|(name, _)| *name)
            .unwrap_or_default()
    }

    /// The value `name` stands for, compared case-insensitively.
    fn parse(name: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }
}

/// Typed properties of one resource type.
pub trait FromProperties: Sized {
    fn from_properties(properties: &Map<String, Value>) -> Result<Self, InvalidProperties>;
}

/// Reads the fields of one JSON object, recording problems under its path.
///
/// Every field asked for is remembered, so [`Fields::finish`] can reject the ones nobody
/// asked for and suggest the closest known name.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: String,
    problems: &'a Problems,
    known: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    /// The top level of `ResourceProperties`.
    pub fn root(object: &'a Map<String, Value>, problems: &'a Problems) -> Self {
        let mut fields = Self::nested(object, String::new(), problems);
        fields.known.extend(CLOUDFORMATION_PROPERTIES);
        fields
    }

    fn nested(object: &'a Map<String, Value>, path: String, problems: &'a Problems) -> Self {
        Fields {
            object,
            path,
            problems,
            known: Vec::new(),
        }
    }

    /// The path of a field of this object, as problems name it.
    pub fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Records a problem with one field of this object.
    pub fn problem(&self, name: &str, message: impl Into<String>) {
        self.problems.add(self.path_of(name), message);
    }

    pub fn problems(&self) -> &'a Problems {
        self.problems
    }

    /// The raw value of a field, `None` when absent or JSON `null`.
    pub fn value(&mut self, name: &'static str) -> Option<&'a Value> {
        self.known.push(name);
        self.object.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&mut self, name: &'static str) -> bool {
        self.value(name).is_some()
    }

    /// Records "is required" when the field is absent.
    pub fn required<T>(&self, name: &str, value: Option<T>) -> Option<T> {
        if value.is_none() && !self.object.contains_key(name) {
            self.problem(name, "is required");
        } else if value.is_none() && self.object.get(name).is_some_and(Value::is_null) {
            self.problem(name, "is required and must not be null");
        }
        value
    }

    pub fn string(&mut self, name: &'static str) -> Option<String> {
        let value = self.value(name)?;
        let path = self.path_of(name);
        scalar_string(value, &path, self.problems)
    }

    pub fn bool(&mut self, name: &'static str) -> Option<bool> {
        let value = self.value(name)?;
        match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            other => {
                self.problem(
                    name,
                    format!("must be true or false, got {}", describe(other)),
                );
                None
            }
        }
    }

    pub fn integer(&mut self, name: &'static str) -> Option<i64> {
        let value = self.value(name)?;
        let parsed = match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.problem(
                name,
                format!("must be a whole number, got {}", describe(value)),
            );
        }
        parsed
    }

    /// A string naming one of `T`'s choices (compared case-insensitively).
    pub fn choice<T: Choice>(&mut self, name: &'static str) -> Option<T> {
        self.one_of(name, T::CHOICES)
    }

    /// A string naming one of `options` (compared case-insensitively); the message lists
    /// their names.
    pub fn one_of<T: Copy>(&mut self, name: &'static str, options: &[(&str, T)]) -> Option<T> {
        let text = self.string(name)?;
        let found = options
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(&text))
            .map(|(_, value)| *value);
        if found.is_none() {
            let names: Vec<&str> = options.iter().map(|(known, _)| *known).collect();
            self.problem(
                name,
                format!("must be one of {}, got {text:?}", names.join(", ")),
            );
        }
        found
    }

    /// A list of strings; a single string is taken as a list of one.
    pub fn string_list(&mut self, name: &'static str) -> Option<Vec<String>> {
        let value = self.value(name)?;
        let path = self.path_of(name);
        match value {
            Value::Array(items) => {
                let before = self.problems.0.borrow().len();
                let strings: Vec<String> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        scalar_string(item, &format!("{path}[{i}]"), self.problems)
                    })
                    .collect();
                (self.problems.0.borrow().len() == before).then_some(strings)
            }
            other => scalar_string(other, &path, self.problems).map(|s| vec![s]),
        }
    }

    /// A list of objects, each read by `read` with its own path (`Name[i]`).
    pub fn object_list<T>(
        &mut self,
        name: &'static str,
        mut read: impl FnMut(&mut Fields<'a>) -> Option<T>,
    ) -> Option<Vec<T>> {
        let value = self.value(name)?;
        let Value::Array(items) = value else {
            self.problem(name, format!("must be a list, got {}", describe(value)));
            return None;
        };
        let path = self.path_of(name);
        let mut all_read = true;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match read_object(item, format!("{path}[{i}]"), self.problems, &mut read) {
                Some(v) => out.push(v),
                None => all_read = false,
            }
        }
        all_read.then_some(out)
    }

    /// A nested object read by `read`.
    pub fn object<T>(
        &mut self,
        name: &'static str,
        mut read: impl FnMut(&mut Fields<'a>) -> Option<T>,
    ) -> Option<T> {
        let value = self.value(name)?;
        read_object(value, self.path_of(name), self.problems, &mut read)
    }

    /// Records a problem at `Name[i]` for each item of a list field that `problem` finds
    /// fault with.
    pub fn check_items(
        &self,
        name: &str,
        items: &[String],
        problem: impl Fn(&str) -> Option<String>,
    ) {
        for (i, item) in items.iter().enumerate() {
            if let Some(message) = problem(item) {
                self.problem(&format!("{name}[{i}]"), message);
            }
        }
    }

    /// Rejects every field nobody asked for, naming the closest known one.
    pub fn finish(self) {
        for name in self.object.keys() {
            if self.known.contains(&name.as_str()) {
                continue;
            }
            let message = match closest(name, &self.known) {
                Some(known) => format!("unknown property; did you mean {known}?"),
                None => "unknown property".to_string(),
            };
            self.problem(name, message);
        }
    }
}

fn read_object<'a, T>(
    value: &'a Value,
    path: String,
    problems: &'a Problems,
    read: &mut impl FnMut(&mut Fields<'a>) -> Option<T>,
) -> Option<T> {
    let Value::Object(object) = value else {
        problems.add(path, format!("must be an object, got {}", describe(value)));
        return None;
    };
    let mut fields = Fields::nested(object, path, problems);
    let out = read(&mut fields);
    fields.finish();
    out
}

fn scalar_string(value: &Value, path: &str, problems: &Problems) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => {
            problems.add(path, format!("must be a string, got {}", describe(other)));
            None
        }
    }
}

/// A short description of a JSON value for messages (never the whole value).
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() <= 40 => format!("{s:?}"),
        Value::String(_) => "a long string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The known name closest to `name`, if any is close enough to be a likely typo.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = name.to_ascii_lowercase();
    known
        .iter()
        .filter(|k| !CLOUDFORMATION_PROPERTIES.contains(k))
        .map(|k| (strsim::jaro_winkler(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Reading properties in unit tests of resource types.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// `properties` (a JSON object) read as `P`.
    pub fn read<P: FromProperties>(properties: Value) -> Result<P, InvalidProperties> {
        let Value::Object(map) = properties else {
            panic!("test properties must be a JSON object")
        };
        P::from_properties(&map)
    }

    /// Every problem found in `properties`, as the reason shows it.
    pub fn problems<P: FromProperties + fmt::Debug>(properties: Value) -> Vec<String> {
        read::<P>(properties)
            .expect_err("invalid properties")
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value, f: impl FnOnce(&mut Fields<'_>)) -> Vec<Problem> {
        let Value::Object(map) = value else {
            panic!("test input must be an object")
        };
        let problems = Problems::new();
        let mut fields = Fields::root(&map, &problems);
        f(&mut fields);
        fields.finish();
        problems.list()
    }

    #[test]
    fn string_scalars_parse_like_native_ones() {
        let problems = read(
            json!({"Flag": "true", "Other": false, "Count": "43200", "N": 7}),
            |f| {
                assert_eq!(f.bool("Flag"), Some(true));
                assert_eq!(f.bool("Other"), Some(false));
                assert_eq!(f.integer("Count"), Some(43200));
                assert_eq!(f.integer("N"), Some(7));
            },
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn unknown_property_names_the_closest_known_one() {
        let problems = read(json!({"ExternalID": "x", "ServiceToken": "arn"}), |f| {
            f.string("ExternalId");
            f.string("RoleName");
        });
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "ExternalID");
        assert!(problems[0].message.contains("did you mean ExternalId?"));
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let problems = read(
            json!({"Locations": [{"Bucket": "b"}, {"Prefix": 3, "Colour": "x"}], "Flag": "yes"}),
            |f| {
                f.object_list("Locations", |l| {
                    let bucket = l.string("Bucket");
                    l.string("Prefix");
                    l.required("Bucket", bucket)
                });
                f.bool("Flag");
            },
        );
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["Locations[1].Bucket", "Locations[1].Colour", "Flag"],
            "{problems:?}"
        );
    }

    #[test]
    fn a_single_string_is_a_list_of_one() {
        read(json!({"P": "123456789012", "Q": ["a", "b"]}), |f| {
            assert_eq!(f.string_list("P"), Some(vec!["123456789012".to_string()]));
            assert_eq!(
                f.string_list("Q"),
                Some(vec!["a".to_string(), "b".to_string()])
            );
        });
    }
}
