//! Intrinsic functions, parameters, pseudo parameters and conditions, resolved the way
//! CloudFormation would before it sends a custom resource its properties.
//!
//! A value that exists only at deploy time (another resource's `Fn::GetAtt`, an
//! `Fn::ImportValue`, a parameter without a default or a given value) becomes a
//! *placeholder*: while the properties are checked it is a stand-in that passes the rule
//! of the property it sits in (an ARN where a principal goes, a CIDR for `SourceIps`), and
//! in what is printed it is shown by name, e.g. `<LightlyRole.RoleArn>`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::template::TemplateError;
use crate::policy::Partition;

/// What the command line was told about the stack the template would become.
#[derive(Debug, Clone)]
pub struct StackInputs {
    pub stack_name: String,
    pub account: String,
    pub region: String,
    /// `--parameter KEY=VALUE`, pseudo parameters (`AWS::Region`) included.
    pub parameters: BTreeMap<String, String>,
}

impl StackInputs {
    /// The defaults of an offline plan; `--parameter AWS::AccountId=...` and
    /// `AWS::Region`, `AWS::StackName` override them.
    pub fn new(stack_name: &str, mut parameters: BTreeMap<String, String>) -> Self {
        let mut take = |name: &str, default: &str| {
            parameters
                .remove(name)
                .unwrap_or_else(|| default.to_string())
        };
        let stack_name = take("AWS::StackName", stack_name);
        let account = take("AWS::AccountId", "123456789012");
        let region = take("AWS::Region", "us-east-1");
        StackInputs {
            stack_name,
            account,
            region,
            parameters,
        }
    }

    pub fn partition(&self) -> Partition {
        Partition::of_region(&self.region)
    }

    /// The stack's id as CloudFormation would give it; the last part is known only once
    /// the stack exists.
    pub fn stack_id(&self) -> String {
        format!(
            "arn:{}:cloudformation:{}:{}:stack/{}/{STACK_UUID}",
            self.partition().name(),
            self.region,
            self.account,
            self.stack_name
        )
    }
}

/// The unknown part of a planned stack's id.
pub const STACK_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// What a placeholder must look like to pass the rule of the property it stands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Principal,
    KmsKey,
    Cidr,
    Vpc,
    Vpce,
}

impl Kind {
    /// The kind a property name calls for (the innermost name a value sits under).
    fn of_slot(slot: &str) -> Kind {
        match slot {
            "TrustedPrincipal"
            | "Principal"
            | "AWS"
            | "ExemptPrincipalArns"
            | "AllowListBucketFor" => Kind::Principal,
            "KmsKeyArns" | "KmsKeyArn" => Kind::KmsKey,
            "SourceIps" | "FromIps" => Kind::Cidr,
            "SourceVpcs" | "FromVpcs" => Kind::Vpc,
            "SourceVpces" | "FromVpces" => Kind::Vpce,
            _ => Kind::Text,
        }
    }
}

/// The placeholders handed out, and what each is shown as.
#[derive(Debug, Default, Clone)]
pub struct Placeholders {
    /// (stand-in, shown as), in the order they were made.
    made: Vec<(String, String)>,
}

impl Placeholders {
    fn stand_in(&mut self, shown: &str, kind: Kind, inputs: &StackInputs) -> String {
        if let Some((stand_in, _)) = self
            .made
            .iter()
            .find(|(s, name)| name == shown && Kind::of_stand_in(s) == kind)
        {
            return stand_in.clone();
        }
        let n = self.made.len() + 1;
        let token = format!("planvalue{n}x");
        let partition = inputs.partition().name();
        let stand_in = match kind {
            Kind::Text => token,
            Kind::Principal => format!(
                "arn:{partition}:iam::{}:role/{token}",
                999_000_000_000u64 + n as u64
            ),
            Kind::KmsKey => format!(
                "arn:{partition}:kms:{}:{}:key/{token}",
                inputs.region, inputs.account
            ),
            Kind::Cidr => format!("192.0.2.{}/32", n % 250 + 1),
            Kind::Vpc => format!("vpc-0ee{n:014x}"),
            Kind::Vpce => format!("vpce-0ee{n:014x}"),
        };
        self.made.push((stand_in.clone(), shown.to_string()));
        stand_in
    }

    /// Whether `text` holds a placeholder.
    pub fn within(&self, text: &str) -> bool {
        self.made.iter().any(|(s, _)| text.contains(s.as_str()))
    }

    /// Whether any string in `value` holds a placeholder.
    pub fn within_value(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.within(s),
            Value::Array(items) => items.iter().any(|v| self.within_value(v)),
            Value::Object(fields) => fields.values().any(|v| self.within_value(v)),
            _ => false,
        }
    }

    /// `text` with every stand-in shown by its name.
    pub fn reveal(&self, text: &str) -> String {
        let mut by_length: Vec<&(String, String)> = self.made.iter().collect();
        by_length.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        by_length
            .into_iter()
            .fold(text.to_string(), |text, (stand_in, shown)| {
                text.replace(stand_in.as_str(), shown)
            })
    }

    /// `value` with every stand-in shown by its name.
    pub fn reveal_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.reveal(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.reveal_value(v)).collect())
            }
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (self.reveal(k), self.reveal_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The names of the placeholders, in order.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (_, shown) in &self.made {
            if !names.contains(shown) {
                names.push(shown.clone());
            }
        }
        names
    }
}

impl Kind {
    fn of_stand_in(stand_in: &str) -> Kind {
        match stand_in {
            s if s.starts_with("arn:") && s.contains(":iam:") => Kind::Principal,
            s if s.starts_with("arn:") => Kind::KmsKey,
            s if s.starts_with("192.0.2.") => Kind::Cidr,
            s if s.starts_with("vpce-") => Kind::Vpce,
            s if s.starts_with("vpc-") => Kind::Vpc,
            _ => Kind::Text,
        }
    }
}

/// Resolves the values of one template for one set of inputs.
pub struct Resolver<'t> {
    template: &'t Value,
    inputs: &'t StackInputs,
    /// Parameters by name: their value, or `None` when only the deployment will give one.
    parameters: BTreeMap<String, Option<Value>>,
    conditions: RefCell<BTreeMap<String, bool>>,
    placeholders: RefCell<Placeholders>,
    /// The physical ids of a deployed stack's resources, by logical id.
    deployed: BTreeMap<String, String>,
}

/// Attributes of this function's own types that are their physical id.
const ID_ATTRIBUTES: [(&str, &str); 2] = [
    ("Custom::VendorS3Access", "RoleArn"),
    ("Custom::VendorS3User", "UserArn"),
];

type Resolved = Result<Option<Value>, String>;

impl<'t> Resolver<'t> {
    pub fn new(
        template: &'t Value,
        inputs: &'t StackInputs,
        file: &str,
    ) -> Result<Self, TemplateError> {
        let declared = template
            .get("Parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for given in inputs.parameters.keys() {
            if !declared.contains_key(given) {
                return Err(TemplateError::malformed(
                    file,
                    format!("--parameter {given}: the template declares no such parameter"),
                ));
            }
        }
        let parameters = declared
            .iter()
            .map(|(name, declaration)| {
                let is_list = declaration
                    .get("Type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t == "CommaDelimitedList" || t.starts_with("List<"));
                let text = inputs.parameters.get(name).cloned().or_else(|| {
                    declaration.get("Default").map(|d| match d {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                });
                let value = text.map(|text| match is_list {
                    true if text.is_empty() => Value::Array(Vec::new()),
                    true => Value::Array(
                        text.split(',')
                            .map(|s| Value::String(s.trim().to_string()))
                            .collect(),
                    ),
                    false => Value::String(text),
                });
                (name.clone(), value)
            })
            .collect();
        Ok(Resolver {
            template,
            inputs,
            parameters,
            conditions: RefCell::default(),
            placeholders: RefCell::default(),
            deployed: BTreeMap::new(),
        })
    }

    /// Resolves `Ref` of a resource (and the attributes that are a physical id) to the
    /// physical ids of the deployed stack.
    pub fn with_resources(mut self, physical_ids: BTreeMap<String, String>) -> Self {
        self.deployed = physical_ids;
        self
    }

    /// A resource's attribute: known from the deployed stack when it is the physical id,
    /// else a placeholder.
    fn attribute(&self, resource: &str, attribute: &str, slot: &str) -> String {
        let resource_type = self
            .template
            .pointer(&format!("/Resources/{resource}/Type"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let is_id = ID_ATTRIBUTES.contains(&(resource_type, attribute));
        match self.deployed.get(resource) {
            Some(id) if is_id => id.clone(),
            _ => self.placeholder(&format!("{resource}.{attribute}"), slot),
        }
    }

    pub fn placeholders(&self) -> Placeholders {
        self.placeholders.borrow().clone()
    }

    /// Whether the resource's `Condition` holds (true when it has none).
    pub fn resource_included(&self, logical_id: &str, resource: &Value) -> Result<bool, String> {
        match resource.get("Condition").and_then(Value::as_str) {
            Some(name) => self
                .condition(name)
                .map_err(|e| format!("Resources.{logical_id}.Condition: {e}")),
            None => Ok(true),
        }
    }

    /// The resource's properties as its custom resource would receive them: every
    /// function resolved, `AWS::NoValue` removed, and numbers and booleans as strings.
    pub fn properties(
        &self,
        logical_id: &str,
        resource: &Value,
    ) -> Result<Map<String, Value>, String> {
        let Some(properties) = resource.get("Properties") else {
            return Ok(Map::new());
        };
        let at = format!("Resources.{logical_id}.Properties");
        match self.resolve(properties, "Properties", &at)? {
            Some(Value::Object(object)) => Ok(object),
            None => Ok(Map::new()),
            Some(_) => Err(format!("{at}: must be an object")),
        }
    }

    fn resolve(&self, value: &Value, slot: &str, at: &str) -> Resolved {
        match value {
            Value::Object(object) if object.len() == 1 => {
                let (name, argument) = object.iter().next().unwrap_or_else(|| unreachable!());
                if name == "Ref" || name.starts_with("Fn::") {
                    return self.function(name, argument, slot, at);
                }
                self.object(object, at)
            }
            Value::Object(object) => self.object(object, at),
            Value::Array(items) => {
                let mut resolved = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    if let Some(item) = self.resolve(item, slot, &format!("{at}[{i}]"))? {
                        resolved.push(item);
                    }
                }
                Ok(Some(Value::Array(resolved)))
            }
            Value::Number(n) => Ok(Some(Value::String(n.to_string()))),
            Value::Bool(b) => Ok(Some(Value::String(b.to_string()))),
            other => Ok(Some(other.clone())),
        }
    }

    fn object(&self, object: &Map<String, Value>, at: &str) -> Resolved {
        let mut resolved = Map::new();
        for (key, value) in object {
            if let Some(value) = self.resolve(value, key, &format!("{at}.{key}"))? {
                resolved.insert(key.clone(), value);
            }
        }
        Ok(Some(Value::Object(resolved)))
    }

    fn placeholder(&self, shown: &str, slot: &str) -> String {
        self.placeholders.borrow_mut().stand_in(
            &format!("<{shown}>"),
            Kind::of_slot(slot),
            self.inputs,
        )
    }

    fn function(&self, name: &str, argument: &Value, slot: &str, at: &str) -> Resolved {
        let call = Call {
            resolver: self,
            argument,
            slot,
            at,
            at_fn: format!("{at}.{name}"),
        };
        let at_fn = &call.at_fn;
        match name {
            "Ref" => {
                let target = argument
                    .as_str()
                    .ok_or_else(|| format!("{at_fn}: expected a name"))?;
                self.reference(target, slot)
                    .map_err(|e| format!("{at_fn}: {e}"))
            }
            "Fn::GetAtt" => call.get_att(),
            "Fn::ImportValue" => {
                let export = call.text(argument)?;
                Ok(Some(Value::String(
                    self.placeholder(&format!("import:{export}"), slot),
                )))
            }
            "Fn::Sub" => self.sub(argument, slot, at_fn).map(Some),
            "Fn::Join" => call.join(),
            "Fn::Select" => call.select(),
            "Fn::Split" => call.split(),
            "Fn::If" => call.choose(),
            "Fn::FindInMap" => call.find_in_map(),
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                let holds = self.truth(name, argument, at_fn)?;
                Ok(Some(Value::String(holds.to_string())))
            }
            "Fn::Base64" => call.text(argument).map(|s| Some(Value::String(s))),
            "Fn::GetAZs" | "Fn::Cidr" => Ok(Some(Value::String(
                self.placeholder(&format!("{name} at deploy"), slot),
            ))),
            other => Err(format!(
                "{at}: {other} is not an intrinsic function this plan knows"
            )),
        }
    }

    fn is_resource(&self, name: &str) -> bool {
        self.template
            .get("Resources")
            .and_then(|r| r.get(name))
            .is_some()
    }

    /// `Ref` of a parameter, a pseudo parameter or a resource; `None` for `AWS::NoValue`.
    fn reference(&self, target: &str, slot: &str) -> Resolved {
        let inputs = self.inputs;
        let text = |s: String| Ok(Some(Value::String(s)));
        match target {
            "AWS::NoValue" => Ok(None),
            "AWS::AccountId" => text(inputs.account.clone()),
            "AWS::Region" => text(inputs.region.clone()),
            "AWS::StackName" => text(inputs.stack_name.clone()),
            "AWS::StackId" => text(inputs.stack_id()),
            "AWS::Partition" => text(inputs.partition().name().to_string()),
            "AWS::URLSuffix" => text(match inputs.partition() {
                Partition::AwsCn => "amazonaws.com.cn".to_string(),
                _ => "amazonaws.com".to_string(),
            }),
            "AWS::NotificationARNs" => Ok(Some(Value::Array(Vec::new()))),
            name => match self.parameters.get(name) {
                Some(Some(value)) => Ok(Some(value.clone())),
                Some(None) => {
                    let stand_in = Value::String(self.placeholder(name, slot));
                    let is_list = self
                        .template
                        .pointer(&format!("/Parameters/{name}/Type"))
                        .and_then(Value::as_str)
                        .is_some_and(|t| t == "CommaDelimitedList" || t.starts_with("List<"));
                    Ok(Some(match is_list {
                        true => Value::Array(vec![stand_in]),
                        false => stand_in,
                    }))
                }
                None if self.is_resource(name) => {
                    Ok(Some(Value::String(match self.deployed.get(name) {
                        Some(id) => id.clone(),
                        None => self.placeholder(name, slot),
                    })))
                }
                None => Err(format!(
                    "{name} is neither a parameter nor a resource of the template"
                )),
            },
        }
    }

    fn sub(&self, argument: &Value, slot: &str, at: &str) -> Result<Value, String> {
        let (pattern, variables) = match argument {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(parts) if parts.len() == 2 => {
                let pattern = parts[0]
                    .as_str()
                    .ok_or_else(|| format!("{at}: expected a string first"))?;
                let variables = match self.resolve(&parts[1], slot, at)? {
                    Some(Value::Object(v)) => v,
                    _ => return Err(format!("{at}: expected a map of variables second")),
                };
                (pattern.to_string(), variables)
            }
            _ => return Err(format!("{at}: expected a string or [string, variables]")),
        };
        let mut out = String::new();
        let mut rest = pattern.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let end = after
                .find('}')
                .ok_or_else(|| format!("{at}: an unclosed ${{ in {pattern:?}"))?;
            let name = after[..end].trim();
            let value = match variables.get(name) {
                Some(value) => Some(value.clone()),
                None => match name.split_once('.') {
                    Some((resource, attribute)) if !name.starts_with("AWS::") => {
                        if !self.is_resource(resource) {
                            return Err(format!(
                                "{at}: ${{{name}}}: the template has no resource {resource}"
                            ));
                        }
                        Some(Value::String(self.attribute(resource, attribute, "")))
                    }
                    _ => self
                        .reference(name, "")
                        .map_err(|e| format!("{at}: ${{{name}}}: {e}"))?,
                },
            };
            match value {
                Some(Value::String(s)) => out.push_str(&s),
                other => {
                    return Err(format!(
                        "{at}: ${{{name}}} is {}, not a string",
                        shown(&other)
                    ));
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }

    /// A condition of the template's `Conditions`, evaluated once.
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        if let Some(known) = self.conditions.borrow().get(name) {
            return Ok(*known);
        }
        let definition = self
            .template
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| format!("the template has no condition {name}"))?;
        let at = format!("Conditions.{name}");
        let holds = match definition {
            Value::Object(o) if o.len() == 1 => {
                let (f, argument) = o.iter().next().unwrap_or_else(|| unreachable!());
                self.truth(f, argument, &at)?
            }
            _ => return Err(format!("{at}: expected one condition function")),
        };
        self.conditions.borrow_mut().insert(name.to_string(), holds);
        Ok(holds)
    }

    fn truth(&self, function: &str, argument: &Value, at: &str) -> Result<bool, String> {
        let each = || -> Result<Vec<bool>, String> {
            let Value::Array(items) = argument else {
                return Err(format!("{at}: expected a list of conditions"));
            };
            items.iter().map(|item| self.truth_of(item, at)).collect()
        };
        match function {
            "Fn::Equals" => {
                let Value::Array(items) = argument else {
                    return Err(format!("{at}: expected two values"));
                };
                let [a, b] = items.as_slice() else {
                    return Err(format!("{at}: expected two values"));
                };
                Ok(self.resolve(a, "", at)? == self.resolve(b, "", at)?)
            }
            "Fn::Not" => match each()?.as_slice() {
                [one] => Ok(!one),
                _ => Err(format!("{at}: Fn::Not takes one condition")),
            },
            "Fn::And" => Ok(each()?.iter().all(|b| *b)),
            "Fn::Or" => Ok(each()?.iter().any(|b| *b)),
            "Condition" => self.condition(argument.as_str().unwrap_or_default()),
            other => Err(format!("{at}: {other} is not a condition function")),
        }
    }

    fn truth_of(&self, item: &Value, at: &str) -> Result<bool, String> {
        match item {
            Value::Object(o) if o.len() == 1 => {
                let (f, argument) = o.iter().next().unwrap_or_else(|| unreachable!());
                self.truth(f, argument, at)
            }
            Value::Bool(b) => Ok(*b),
            _ => Err(format!("{at}: expected a condition")),
        }
    }
}

/// One intrinsic function being resolved: its argument, the slot its value fills and where
/// it stands (`at`, and `at_fn` with the function's name, for messages).
struct Call<'r, 't> {
    resolver: &'r Resolver<'t>,
    argument: &'r Value,
    slot: &'r str,
    at: &'r str,
    at_fn: String,
}

impl Call<'_, '_> {
    /// `value` resolved, which must be a string.
    fn text(&self, value: &Value) -> Result<String, String> {
        match self.resolver.resolve(value, self.slot, &self.at_fn)? {
            Some(Value::String(s)) => Ok(s),
            other => Err(format!(
                "{}: expected a string, found {}",
                self.at_fn,
                shown(&other)
            )),
        }
    }

    /// `value` resolved, which must be a list.
    fn list(&self, value: &Value) -> Result<Vec<Value>, String> {
        match self.resolver.resolve(value, self.slot, &self.at_fn)? {
            Some(Value::Array(items)) => Ok(items),
            other => Err(format!(
                "{}: expected a list, found {}",
                self.at_fn,
                shown(&other)
            )),
        }
    }

    /// The argument, which must be a list of `n`.
    fn arguments(&self, n: usize) -> Result<&Vec<Value>, String> {
        match self.argument {
            Value::Array(items) if items.len() == n => Ok(items),
            _ => Err(format!("{}: expected a list of {n}", self.at_fn)),
        }
    }

    fn get_att(&self) -> Resolved {
        let at_fn = &self.at_fn;
        let parts = match self.argument {
            Value::Array(parts) => parts
                .iter()
                .map(|part| self.text(part))
                .collect::<Result<Vec<_>, _>>()?,
            Value::String(s) => s.splitn(2, '.').map(str::to_string).collect(),
            _ => return Err(format!("{at_fn}: expected [RESOURCE, ATTRIBUTE]")),
        };
        let [resource, attribute] = parts.as_slice() else {
            return Err(format!("{at_fn}: expected [RESOURCE, ATTRIBUTE]"));
        };
        if !self.resolver.is_resource(resource) {
            return Err(format!("{at_fn}: the template has no resource {resource}"));
        }
        Ok(Some(Value::String(
            self.resolver.attribute(resource, attribute, self.slot),
        )))
    }

    fn join(&self) -> Resolved {
        let parts = self.arguments(2)?;
        let delimiter = self.text(&parts[0])?;
        let items: Vec<String> = self
            .list(&parts[1])?
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("{}: cannot join {other}", self.at_fn)),
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Value::String(items.join(&delimiter))))
    }

    fn select(&self) -> Resolved {
        let parts = self.arguments(2)?;
        let index: usize = self
            .text(&parts[0])?
            .parse()
            .map_err(|_| format!("{}: the index must be a number", self.at_fn))?;
        let items = self.list(&parts[1])?;
        items.get(index).cloned().map(Some).ok_or_else(|| {
            format!(
                "{}: index {index} is past the list's {} items",
                self.at_fn,
                items.len()
            )
        })
    }

    fn split(&self) -> Resolved {
        let parts = self.arguments(2)?;
        let delimiter = self.text(&parts[0])?;
        let whole = self.text(&parts[1])?;
        Ok(Some(Value::Array(
            whole
                .split(delimiter.as_str())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        )))
    }

    /// `Fn::If`: the branch its condition chooses.
    fn choose(&self) -> Resolved {
        let parts = self.arguments(3)?;
        let condition = parts[0]
            .as_str()
            .ok_or_else(|| format!("{}: expected a condition name", self.at_fn))?;
        let holds = self
            .resolver
            .condition(condition)
            .map_err(|e| format!("{}: {e}", self.at_fn))?;
        let chosen = if holds { &parts[1] } else { &parts[2] };
        self.resolver.resolve(chosen, self.slot, self.at)
    }

    fn find_in_map(&self) -> Resolved {
        let parts = self.arguments(3)?;
        let keys = [
            self.text(&parts[0])?,
            self.text(&parts[1])?,
            self.text(&parts[2])?,
        ];
        let found = self
            .resolver
            .template
            .get("Mappings")
            .and_then(|m| m.get(&keys[0]))
            .and_then(|m| m.get(&keys[1]))
            .and_then(|m| m.get(&keys[2]))
            .ok_or_else(|| format!("{}: no mapping {}", self.at_fn, keys.join(".")))?;
        self.resolver.resolve(found, self.slot, self.at)
    }
}

fn shown(value: &Option<Value>) -> String {
    match value {
        None => "AWS::NoValue".to_string(),
        Some(v) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::template::parse;
    use serde_json::json;

    fn properties(text: &str, given: &[(&str, &str)]) -> (Map<String, Value>, Placeholders) {
        let template = parse("t.yaml", text).expect("reads");
        let given = given
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let inputs = StackInputs::new("plan", given);
        let resolver = Resolver::new(&template, &inputs, "t.yaml").expect("parameters");
        let resource = &template["Resources"]["R"];
        let resolved = resolver.properties("R", resource).expect("resolves");
        (resolved, resolver.placeholders())
    }

    const TEMPLATE: &str = r#"
Parameters:
  Bucket: {Type: String}
  Prefix: {Type: String, Default: ""}
  Ips: {Type: CommaDelimitedList, Default: "10.0.0.0/8,192.168.0.0/16"}
Conditions:
  HasPrefix: !Not [!Equals [!Ref Prefix, ""]]
Resources:
  Role: {Type: AWS::IAM::Role}
  R:
    Type: Custom::VendorS3Access
    Properties:
      ServiceToken: !ImportValue vendor-access-ServiceToken
      TrustedPrincipal: !GetAtt Role.Arn
      Locations:
        - Bucket: !Ref Bucket
          Prefix: !If [HasPrefix, !Ref Prefix, !Ref AWS::NoValue]
      SourceIps: !Ref Ips
      Description: !Sub "${AWS::StackName} in ${AWS::Region} for ${Bucket} ${!Literal}"
      MaxSessionDuration: 3600
      Region: !Select [1, !Split ["-", !Ref AWS::Region]]
"#;

    #[test]
    fn parameters_conditions_and_functions_resolve_as_cloudformation_would() {
        let (resolved, placeholders) = properties(
            TEMPLATE,
            &[("Prefix", "images/"), ("AWS::Region", "eu-west-1")],
        );
        let shown = placeholders.reveal_value(&Value::Object(resolved.clone()));
        assert_eq!(
            shown,
            json!({
                "ServiceToken": "<import:vendor-access-ServiceToken>",
                "TrustedPrincipal": "<Role.Arn>",
                "Locations": [{"Bucket": "<Bucket>", "Prefix": "images/"}],
                "SourceIps": ["10.0.0.0/8", "192.168.0.0/16"],
                "Description": "plan in eu-west-1 for <Bucket> ${Literal}",
                "MaxSessionDuration": "3600",
                "Region": "west"
            })
        );
        // While checked, each placeholder passes the rule of the property it stands in.
        let principal = resolved["TrustedPrincipal"].as_str().unwrap_or_default();
        assert!(
            crate::rules::trusted_principal_problem(principal).is_none(),
            "{principal}"
        );
        let bucket = resolved["Locations"][0]["Bucket"]
            .as_str()
            .unwrap_or_default();
        assert!(
            crate::rules::bucket_name_problem(bucket).is_none(),
            "{bucket}"
        );
    }

    #[test]
    fn a_false_condition_removes_the_property() {
        let (resolved, _) = properties(TEMPLATE, &[("Bucket", "data")]);
        assert_eq!(resolved["Locations"], json!([{"Bucket": "data"}]));
    }

    #[test]
    fn unknown_references_are_named() {
        let template = parse(
            "t.yaml",
            "Resources:\n  R:\n    Type: Custom::X\n    Properties:\n      A: !Ref Missing\n",
        )
        .expect("reads");
        let inputs = StackInputs::new("plan", BTreeMap::new());
        let resolver = Resolver::new(&template, &inputs, "t.yaml").expect("parameters");
        let error = resolver
            .properties("R", &template["Resources"]["R"])
            .unwrap_err();
        assert!(
            error.contains("Resources.R.Properties.A.Ref: Missing"),
            "{error}"
        );
        let bad = BTreeMap::from([("Nope".to_string(), "x".to_string())]);
        let inputs = StackInputs::new("plan", bad);
        assert!(Resolver::new(&template, &inputs, "t.yaml").is_err());
    }
}
