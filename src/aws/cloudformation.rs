//! Confirming with CloudFormation that a request is real: anyone who may invoke the
//! function can send an event that looks like CloudFormation's, so before anything is
//! written, `DescribeStackResource` must show the event's stack (in this account and
//! region), its logical resource, of its type, in a status in which CloudFormation sends
//! that request:
//!
//! | request | resource status | when |
//! |---|---|---|
//! | Create | `CREATE_IN_PROGRESS` | stack create, a resource added by an update |
//! | Update | `UPDATE_IN_PROGRESS`, `UPDATE_ROLLBACK_IN_PROGRESS` | stack update (a replacement too), update rollback |
//! | Delete | `DELETE_IN_PROGRESS` | stack delete, create rollback, a resource removed by an update |
//! | Delete | any, with the stack in `UPDATE_COMPLETE_CLEANUP_IN_PROGRESS` or `UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS`, of a physical id that is no longer the resource's | the old resource after a replacement, or the new one after a rolled-back replacement |

use async_trait::async_trait;
use aws_sdk_cloudformation::types::StackResourceDetail;

use super::CallError;
use crate::cfn::{Action, Confirmer, Request};

const CREATE: &[&str] = &["CREATE_IN_PROGRESS"];
const UPDATE: &[&str] = &["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS"];
const DELETE: &[&str] = &["DELETE_IN_PROGRESS"];
const CLEANUP: &[&str] = &[
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
];

/// Confirms requests with CloudFormation's `DescribeStackResource` (and, for the Delete of
/// a replaced physical id, `DescribeStacks`).
pub struct StackConfirmation {
    pub client: aws_sdk_cloudformation::Client,
}

#[async_trait]
impl Confirmer for StackConfirmation {
    async fn confirm(&self, request: &Request) -> Result<(), String> {
        let reply_to = &request.reply_to;
        let described = self
            .client
            .describe_stack_resource()
            .stack_name(&reply_to.stack_id)
            .logical_resource_id(&reply_to.logical_resource_id)
            .send()
            .await
            .map_err(|e| {
                unconfirmed(&format!(
                    "DescribeStackResource failed: {}",
                    CallError::of(e)
                ))
            })?;
        let resource = described
            .stack_resource_detail
            .ok_or_else(|| unconfirmed("DescribeStackResource returned no resource"))?;
        check_resource(request, &resource)?;
        let status = resource.resource_status.as_ref().map_or("", |s| s.as_str());
        if expected(&request.action).contains(&status) {
            return Ok(());
        }
        if self.is_cleanup(request, &resource).await? {
            return Ok(());
        }
        Err(unconfirmed(&format!(
            "the resource is {status}, a status in which CloudFormation sends no {} request",
            request.kind()
        )))
    }
}

impl StackConfirmation {
    /// Whether a Delete is CloudFormation cleaning up a physical id the resource no
    /// longer has, after an update.
    async fn is_cleanup(
        &self,
        request: &Request,
        resource: &StackResourceDetail,
    ) -> Result<bool, String> {
        let Action::Delete { physical_id } = &request.action else {
            return Ok(false);
        };
        if resource.physical_resource_id.as_deref() == Some(physical_id.as_str()) {
            return Ok(false);
        }
        let stacks = self
            .client
            .describe_stacks()
            .stack_name(&request.reply_to.stack_id)
            .send()
            .await
            .map_err(|e| unconfirmed(&format!("DescribeStacks failed: {}", CallError::of(e))))?;
        let status = stacks
            .stacks()
            .first()
            .and_then(|s| s.stack_status.as_ref())
            .map_or("", |s| s.as_str());
        Ok(CLEANUP.contains(&status))
    }
}

fn expected(action: &Action) -> &'static [&'static str] {
    match action {
        Action::Create => CREATE,
        Action::Update { .. } => UPDATE,
        Action::Delete { .. } => DELETE,
    }
}

/// The resource CloudFormation describes is the event's: same stack, logical id and type.
fn check_resource(request: &Request, resource: &StackResourceDetail) -> Result<(), String> {
    let reply_to = &request.reply_to;
    if resource.stack_id.as_deref() != Some(reply_to.stack_id.as_str()) {
        return Err(unconfirmed(
            "the stack CloudFormation describes is another one",
        ));
    }
    if resource.logical_resource_id.as_deref() != Some(reply_to.logical_resource_id.as_str()) {
        return Err(unconfirmed(
            "the logical resource CloudFormation describes is another one",
        ));
    }
    if resource.resource_type.as_deref() != Some(request.resource_type.as_str()) {
        return Err(unconfirmed(&format!(
            "the stack's resource is a {}, not a {}",
            resource.resource_type.as_deref().unwrap_or("?"),
            request.resource_type
        )));
    }
    Ok(())
}

fn unconfirmed(why: &str) -> String {
    format!("CloudFormation does not confirm this request, so nothing was done: {why}")
}
