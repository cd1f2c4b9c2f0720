//! `drift`: what a deployed stack's resources of our types should be (their properties,
//! planned as an Update would plan them) against what is there.

use serde::Serialize;
use serde_json::Value;

use super::plan::{Plan, PlannedResource, Status};
pub use crate::cfn::same;

/// One facet that is not what the stack's properties produce.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub logical_id: String,
    pub facet: String,
    pub expected: Option<Value>,
    pub found: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    pub stack_name: String,
    pub stack_id: String,
    pub differences: Vec<Difference>,
    /// Resources that could not be compared, and why (invalid properties, a failed read).
    pub not_compared: Vec<(String, String)>,
    pub resources: usize,
}

impl DriftReport {
    pub fn in_sync(&self) -> bool {
        self.differences.is_empty() && self.not_compared.is_empty()
    }

    /// What `vendor-access drift` exits with: 0 in sync, 3 drifted (or not comparable).
    pub fn exit_code(&self) -> i32 {
        match self.in_sync() {
            true => super::EXIT_VALID,
            false => super::EXIT_DRIFTED,
        }
    }

    pub fn from_plan(plan: &Plan, stack_id: &str) -> DriftReport {
        let mut report = DriftReport {
            stack_name: plan.stack_name.clone(),
            stack_id: stack_id.to_string(),
            differences: Vec::new(),
            not_compared: Vec::new(),
            resources: plan.resources.len(),
        };
        for resource in &plan.resources {
            match (&resource.status, &resource.planned, &resource.current) {
                (Status::Skipped, _, _) => {}
                (Status::Planned, Some(_), Some(_)) => {
                    report.differences.extend(differences(resource));
                }
                _ => report.not_compared.push((
                    resource.logical_id.clone(),
                    resource
                        .reason
                        .clone()
                        .or_else(|| {
                            resource
                                .problems
                                .first()
                                .map(|p| format!("{}: {}", p.path, p.message))
                        })
                        .unwrap_or_else(|| "could not be read".into()),
                )),
            }
        }
        report
    }
}

/// The owned facets whose planned and found values differ.
pub fn differences(resource: &PlannedResource) -> Vec<Difference> {
    let (Some(planned), Some(current)) = (&resource.planned, &resource.current) else {
        return Vec::new();
    };
    planned
        .facets
        .iter()
        .filter(|facet| facet.owned)
        .filter_map(|facet| {
            let found = current.facet(&facet.name).and_then(|f| f.value.clone());
            (!same(facet.value.as_ref(), found.as_ref())).then(|| Difference {
                logical_id: resource.logical_id.clone(),
                facet: facet.name.clone(),
                expected: facet.value.clone(),
                found,
            })
        })
        .collect()
}
