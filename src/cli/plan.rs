//! `plan` and `validate`: every resource of a template that this function serves, read
//! with the Lambda's own reader and planned with its own builders.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::resolve::{Placeholders, Resolver, STACK_UUID, StackInputs};
use super::stack::DeployedStack;
use super::template::{self, TemplateError};
use crate::cfn::properties::Problem;
use crate::cfn::{Action, Failure, Invocation, Registry, Request, ResourceType, View};

/// How far a planned resource got.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Valid; `planned` holds what Create or Update would leave.
    Planned,
    /// The Lambda would answer FAILED before any AWS call.
    Invalid,
    /// The properties read, but reading AWS (`--live`) says it would fail.
    Failing,
    /// Its `Condition` is false: CloudFormation would not create it.
    Skipped,
}

/// One resource of the template, planned.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedResource {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub status: Status,
    /// Why it is invalid, each with the property's path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemShown>,
    /// Properties whose value is known only at deploy time, so their rule could not be
    /// checked here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<ProblemShown>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What Create or Update would leave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned: Option<View>,
    /// What is there now (`--live`, `drift`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<View>,
}

impl PlannedResource {
    fn new(logical_id: &str, resource_type: &str) -> Self {
        PlannedResource {
            logical_id: logical_id.to_string(),
            resource_type: resource_type.to_string(),
            status: Status::Planned,
            problems: Vec::new(),
            unchecked: Vec::new(),
            reason: None,
            planned: None,
            current: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProblemShown {
    pub path: String,
    pub message: String,
}

/// A template, planned.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub template: String,
    pub stack_name: String,
    /// Whether what exists was read (`--live`).
    pub live: bool,
    pub resources: Vec<PlannedResource>,
    /// Resources of other types, which CloudFormation creates itself.
    pub other_resources: usize,
    /// Values known only at deploy time, as they are shown.
    pub placeholders: Vec<String>,
}

impl Plan {
    pub fn valid(&self) -> bool {
        self.resources
            .iter()
            .all(|r| matches!(r.status, Status::Planned | Status::Skipped))
    }
}

/// What to plan against.
pub struct Planning<'a> {
    pub registry: &'a Registry,
    pub inputs: StackInputs,
    /// Read what exists (`--live`); with `stack`, the deployed stack's resources.
    pub live: bool,
    pub stack: Option<DeployedStack>,
}

/// Plans every resource of the template at `path` that `registry` serves.
pub async fn plan_file(path: &Path, planning: &Planning<'_>) -> Result<Plan, TemplateError> {
    let shown = path.display().to_string();
    let template = template::load(path)?;
    plan_template(&shown, &template, planning).await
}

pub async fn plan_template(
    file: &str,
    template: &Value,
    planning: &Planning<'_>,
) -> Result<Plan, TemplateError> {
    let inputs = &planning.inputs;
    let mut resolver = Resolver::new(template, inputs, file)?;
    if let Some(stack) = &planning.stack {
        resolver = resolver.with_resources(stack.physical_ids.clone());
    }
    let stack_id = planning
        .stack
        .as_ref()
        .map(|s| s.stack_id.clone())
        .unwrap_or_else(|| inputs.stack_id());
    let resources = template
        .get("Resources")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut planned = Vec::new();
    let mut other_resources = 0;
    for (logical_id, resource) in &resources {
        let resource_type = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(served) = planning.registry.find(resource_type) else {
            other_resources += 1;
            continue;
        };
        planned.push(
            plan_resource(
                file, &resolver, planning, &stack_id, served, logical_id, resource,
            )
            .await?,
        );
    }
    Ok(Plan {
        template: file.to_string(),
        stack_name: inputs.stack_name.clone(),
        live: planning.live,
        resources: planned,
        other_resources,
        placeholders: resolver.placeholders().names(),
    })
}

/// One resource of a type the function serves: skipped (its condition is false), or planned
/// as Create (or, in a deployed stack, as Update of its physical id), with what exists now
/// when `planning.live`.
async fn plan_resource(
    file: &str,
    resolver: &Resolver<'_>,
    planning: &Planning<'_>,
    stack_id: &str,
    served: Arc<dyn ResourceType>,
    logical_id: &str,
    resource: &Value,
) -> Result<PlannedResource, TemplateError> {
    let resource_type = served.type_name();
    let mut entry = PlannedResource::new(logical_id, resource_type);
    if !resolver
        .resource_included(logical_id, resource)
        .map_err(|e| TemplateError::malformed(file, e))?
    {
        entry.status = Status::Skipped;
        entry.reason = Some("its Condition is false: it would not be created".into());
        return Ok(entry);
    }
    let properties = resolver
        .properties(logical_id, resource)
        .map_err(|e| TemplateError::malformed(file, e))?;
    let physical_id = planning
        .stack
        .as_ref()
        .and_then(|s| s.physical_ids.get(logical_id))
        .cloned();
    let action = match &physical_id {
        Some(id) => Action::Update {
            physical_id: id.clone(),
            old_properties: properties.clone(),
        },
        None => Action::Create,
    };
    let request = Request::planned(stack_id, logical_id, resource_type, properties, action);
    let invocation = Invocation::new(request, Instant::now() + Duration::from_secs(300));
    let placeholders = resolver.placeholders();
    let offline = planning.stack.is_none();
    match served.planned(&invocation, planning.live).await {
        Ok(view) => {
            if planning.live {
                let target = physical_id.unwrap_or_else(|| view.target.clone());
                match served.current(&invocation, &target).await {
                    Ok(current) => entry.current = Some(reveal(&placeholders, current, offline)),
                    Err(failure) => fail(&mut entry, &placeholders, failure),
                }
            }
            entry.planned = Some(reveal(&placeholders, view, offline));
        }
        Err(Failure::Invalid(invalid)) => invalid_or_unchecked(
            &mut entry,
            &placeholders,
            &invocation.request.properties,
            invalid.problems(),
        ),
        Err(failure) => fail(&mut entry, &placeholders, failure),
    }
    Ok(entry)
}

/// The reader's problems, each shown as invalid, or as unchecked when it is about a value
/// known only at deploy (a placeholder is not a bucket name; the real value may be).
fn invalid_or_unchecked(
    entry: &mut PlannedResource,
    placeholders: &Placeholders,
    properties: &Map<String, Value>,
    problems: &[Problem],
) {
    for problem in problems {
        let shown = ProblemShown {
            path: problem.path.clone(),
            message: placeholders.reveal(&problem.message),
        };
        match depends_on_deploy(placeholders, properties, problem) {
            true => entry.unchecked.push(shown),
            false => entry.problems.push(shown),
        }
    }
    if !entry.problems.is_empty() {
        entry.status = Status::Invalid;
    } else {
        entry.reason = Some(
            "valid as far as known: the properties listed depend on deploy-time values".into(),
        );
    }
}

fn fail(entry: &mut PlannedResource, placeholders: &Placeholders, failure: Failure) {
    entry.status = Status::Failing;
    entry.reason = Some(placeholders.reveal(&failure.to_string()));
}

/// The view with placeholders shown by name, and (for a stack not yet made) the unknown
/// part of its id as `<stack-uuid>`.
fn reveal(placeholders: &Placeholders, view: View, new_stack: bool) -> View {
    let text = |s: &str| match new_stack {
        true => placeholders.reveal(s).replace(STACK_UUID, "<stack-uuid>"),
        false => placeholders.reveal(s),
    };
    let value = |v: &Value| match new_stack {
        true => serde_json::from_str(&text(&v.to_string())).unwrap_or_else(|_| v.clone()),
        false => placeholders.reveal_value(v),
    };
    let mut view = view;
    view.target = text(&view.target);
    for facet in &mut view.facets {
        facet.value = facet.value.as_ref().map(value);
    }
    view.notes = view.notes.iter().map(|n| text(n)).collect();
    view
}

/// Whether the property a problem names holds a value known only at deploy time.
fn depends_on_deploy(
    placeholders: &Placeholders,
    properties: &Map<String, Value>,
    problem: &Problem,
) -> bool {
    let value = value_at(properties, &problem.path);
    value.is_some_and(|v| placeholders.within_value(v)) || placeholders.within(&problem.message)
}

/// The value at a problem's path, e.g. `Locations[0].Bucket`.
fn value_at<'v>(properties: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let (name, indexes) = split_indexes(first);
    let mut value = properties.get(name)?;
    for index in indexes {
        value = value.get(index)?;
    }
    for part in parts {
        let (name, indexes) = split_indexes(part);
        value = value.get(name)?;
        for index in indexes {
            value = value.get(index)?;
        }
    }
    Some(value)
}

fn split_indexes(part: &str) -> (&str, Vec<usize>) {
    let name_end = part.find('[').unwrap_or(part.len());
    let indexes = part[name_end..]
        .split(['[', ']'])
        .filter_map(|i| i.parse().ok())
        .collect();
    (&part[..name_end], indexes)
}

/// `--parameter KEY=VALUE` options as a map.
pub fn parameters(given: &[String]) -> Result<BTreeMap<String, String>, String> {
    given
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| format!("--parameter {p}: expected KEY=VALUE"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problem_paths_lead_to_their_values() {
        let properties = json!({"Locations": [{"Bucket": "a"}, {"Bucket": "b"}], "TrustedPrincipal": ["x", "y"]});
        let properties = properties.as_object().cloned().unwrap_or_default();
        assert_eq!(
            value_at(&properties, "Locations[1].Bucket"),
            Some(&json!("b"))
        );
        assert_eq!(
            value_at(&properties, "TrustedPrincipal[1]"),
            Some(&json!("y"))
        );
        assert_eq!(value_at(&properties, "Missing"), None);
    }

    #[test]
    fn parameters_are_key_value_pairs() {
        let given = parameters(&["A=1".into(), "B=x=y".into()]).expect("reads");
        assert_eq!(given["B"], "x=y");
        assert!(parameters(&["A".into()]).is_err());
    }
}
