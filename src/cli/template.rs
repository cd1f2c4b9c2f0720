//! A CloudFormation or SAM template read from YAML or JSON into one JSON value, with the
//! YAML short forms (`!Ref`, `!Sub`, ...) written out as their long forms (`Ref`,
//! `Fn::Sub`, ...), so that the rest of the command line sees templates as CloudFormation
//! itself does.

use std::path::Path;

use serde_json::{Map, Value};
use serde_norway::value::{Tag, TaggedValue};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{path}: cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: {reason}")]
    Malformed { path: String, reason: String },
}

impl TemplateError {
    pub fn malformed(path: &str, reason: impl Into<String>) -> Self {
        TemplateError::Malformed {
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}

/// The short-form tags CloudFormation's YAML accepts, and their long forms.
const SHORT_FORMS: [(&str, &str); 17] = [
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("Sub", "Fn::Sub"),
    ("GetAtt", "Fn::GetAtt"),
    ("If", "Fn::If"),
    ("Join", "Fn::Join"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("ImportValue", "Fn::ImportValue"),
    ("Equals", "Fn::Equals"),
    ("Not", "Fn::Not"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("FindInMap", "Fn::FindInMap"),
    ("Base64", "Fn::Base64"),
    ("GetAZs", "Fn::GetAZs"),
    ("Cidr", "Fn::Cidr"),
];

/// Reads the template at `path`.
pub fn load(path: &Path) -> Result<Value, TemplateError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Unreadable {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    parse(&shown, &text)
}

/// Parses a template's text; `path` names it in messages.
pub fn parse(path: &str, text: &str) -> Result<Value, TemplateError> {
    let template = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| TemplateError::malformed(path, e.to_string()))?
    } else {
        let yaml: serde_norway::Value = serde_norway::from_str(text)
            .map_err(|e| TemplateError::malformed(path, e.to_string()))?;
        to_json(yaml).map_err(|reason| TemplateError::malformed(path, reason))?
    };
    match template.get("Resources") {
        Some(Value::Object(_)) => Ok(template),
        _ => Err(TemplateError::malformed(
            path,
            "is not a CloudFormation template: it has no Resources section",
        )),
    }
}

fn to_json(yaml: serde_norway::Value) -> Result<Value, String> {
    use serde_norway::Value as Yaml;
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => serde_json::to_value(&n).map_err(|e| e.to_string())?,
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match to_json(key)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                object.insert(key, to_json(value)?);
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => long_form(*tagged)?,
    })
}

/// `!GetAtt Role.Arn` is `{"Fn::GetAtt": ["Role", "Arn"]}`; every other short form takes
/// its value as it is.
fn long_form(tagged: TaggedValue) -> Result<Value, String> {
    let TaggedValue { tag, value } = tagged;
    let name = tag_name(&tag);
    let Some((_, long)) = SHORT_FORMS.iter().find(|(short, _)| *short == name) else {
        return Err(format!(
            "!{name} is not a CloudFormation intrinsic function"
        ));
    };
    let mut value = to_json(value)?;
    if *long == "Fn::GetAtt"
        && let Value::String(text) = &value
    {
        let (resource, attribute) = text
            .split_once('.')
            .ok_or_else(|| format!("!GetAtt {text}: expected RESOURCE.ATTRIBUTE"))?;
        value = serde_json::json!([resource, attribute]);
    }
    let mut object = Map::new();
    object.insert(long.to_string(), value);
    Ok(Value::Object(object))
}

fn tag_name(tag: &Tag) -> String {
    tag.to_string().trim_start_matches('!').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let template = parse(
            "t.yaml",
            "Resources:\n  R:\n    Type: Custom::X\n    Properties:\n      A: !Ref P\n      B: !GetAtt Role.RoleArn\n      C: !Sub '${AWS::Region}-x'\n      D: !If [Cond, !Join ['', [a, b]], !Ref AWS::NoValue]\n      E: !ImportValue {\"Fn::Sub\": \"${S}-ServiceToken\"}\n      F: 3600\n",
        )
        .expect("reads");
        let properties = &template["Resources"]["R"]["Properties"];
        assert_eq!(properties["A"], json!({"Ref": "P"}));
        assert_eq!(properties["B"], json!({"Fn::GetAtt": ["Role", "RoleArn"]}));
        assert_eq!(properties["C"], json!({"Fn::Sub": "${AWS::Region}-x"}));
        assert_eq!(
            properties["D"],
            json!({"Fn::If": ["Cond", {"Fn::Join": ["", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]})
        );
        assert_eq!(
            properties["E"],
            json!({"Fn::ImportValue": {"Fn::Sub": "${S}-ServiceToken"}})
        );
        assert_eq!(properties["F"], json!(3600));
    }

    #[test]
    fn json_templates_read_as_they_are() {
        let template =
            parse("t.json", r#"{"Resources": {"R": {"Type": "Custom::X"}}}"#).expect("reads");
        assert_eq!(template["Resources"]["R"]["Type"], json!("Custom::X"));
    }

    #[test]
    fn what_is_not_a_template_is_refused_with_a_reason() {
        let unknown = parse("t.yaml", "Resources:\n  R: !Bogus x\n").unwrap_err();
        assert!(unknown.to_string().contains("!Bogus"), "{unknown}");
        let no_resources = parse("t.yaml", "Parameters: {}\n").unwrap_err();
        assert!(
            no_resources.to_string().contains("no Resources"),
            "{no_resources}"
        );
        let broken = parse("t.yaml", "Resources: [\n").unwrap_err();
        assert!(broken.to_string().starts_with("t.yaml: "), "{broken}");
    }
}
