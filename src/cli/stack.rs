//! A deployed stack as `drift` and `plan --live` need it: its id, parameters, template and
//! the physical ids of its resources, read with CloudFormation's read-only calls.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::TemplateStage;
use serde_json::Value;

use super::template;
use crate::aws::CallError;

#[derive(Debug, Clone)]
pub struct DeployedStack {
    pub name: String,
    pub stack_id: String,
    pub parameters: BTreeMap<String, String>,
    /// The template as CloudFormation processed it (SAM transforms expanded).
    pub template: Value,
    pub physical_ids: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("CloudFormation {action} for stack {stack} failed: {error}")]
    Call {
        action: &'static str,
        stack: String,
        error: CallError,
    },
    #[error("stack {stack}: its template cannot be read: {reason}")]
    Template { stack: String, reason: String },
}

impl DeployedStack {
    /// The stack named `name`; `None` when there is none.
    pub async fn read(
        cloudformation: &aws_sdk_cloudformation::Client,
        name: &str,
    ) -> Result<Option<DeployedStack>, StackError> {
        let failed = |action, error| StackError::Call {
            action,
            stack: name.to_string(),
            error,
        };
        let described = cloudformation
            .describe_stacks()
            .stack_name(name)
            .send()
            .await;
        let stack = match described.map_err(CallError::of) {
            Ok(output) => output.stacks.unwrap_or_default().into_iter().next(),
            Err(error)
                if error
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("does not exist")) =>
            {
                None
            }
            Err(error) => return Err(failed("DescribeStacks", error)),
        };
        let Some(stack) = stack else {
            return Ok(None);
        };
        let stack_id = stack.stack_id().unwrap_or(name).to_string();
        let parameters = stack
            .parameters()
            .iter()
            .filter_map(|p| {
                let value = p.resolved_value().or(p.parameter_value())?;
                Some((p.parameter_key()?.to_string(), value.to_string()))
            })
            .collect();
        let body = cloudformation
            .get_template()
            .stack_name(&stack_id)
            .template_stage(TemplateStage::Processed)
            .send()
            .await
            .map_err(|e| failed("GetTemplate", CallError::of(e)))?
            .template_body
            .unwrap_or_default();
        let template =
            template::parse(&format!("stack {name}"), &body).map_err(|e| StackError::Template {
                stack: name.to_string(),
                reason: e.to_string(),
            })?;
        let resources = cloudformation
            .describe_stack_resources()
            .stack_name(&stack_id)
            .send()
            .await
            .map_err(|e| failed("DescribeStackResources", CallError::of(e)))?;
        let physical_ids = resources
            .stack_resources()
            .iter()
            .filter_map(|r| {
                Some((
                    r.logical_resource_id()?.to_string(),
                    r.physical_resource_id()?.to_string(),
                ))
            })
            .collect();
        Ok(Some(DeployedStack {
            name: name.to_string(),
            stack_id,
            parameters,
            template,
            physical_ids,
        }))
    }

    /// The account and region of the stack, from its id.
    pub fn account_and_region(&self) -> (String, String) {
        let mut parts = self.stack_id.split(':');
        let region = parts.nth(3).unwrap_or_default().to_string();
        let account = parts.next().unwrap_or_default().to_string();
        (account, region)
    }
}
