//! A role's trust policy: who may assume it, and with which external id.

use serde_json::Value;

use super::{Effect, Operator, Partition, PolicyDocument, Principal, Statement};
use crate::rules;

/// A principal a role trusts, as the stack names it: an account or an IAM ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trusted {
    /// A 12-digit account id: the account's root in the stack's partition.
    Account(String),
    /// An account root, role or user ARN, as given.
    Arn(String),
}

impl Trusted {
    /// Reads one `TrustedPrincipal` entry; the problem says what is wrong with it.
    pub fn parse(text: &str) -> Result<Trusted, String> {
        let text = text.trim();
        if let Some(problem) = rules::trusted_principal_problem(text) {
            return Err(problem);
        }
        Ok(if rules::is_account_id(text) {
            Trusted::Account(text.to_string())
        } else {
            Trusted::Arn(text.to_string())
        })
    }

    /// The principal as IAM stores it in a trust policy.
    pub fn arn(&self, partition: Partition) -> String {
        match self {
            Trusted::Account(account) => partition.account_root(account),
            Trusted::Arn(arn) => arn.clone(),
        }
    }

    /// The account the principal belongs to.
    pub fn account(&self) -> &str {
        match self {
            Trusted::Account(account) => account,
            Trusted::Arn(arn) => arn.split(':').nth(4).unwrap_or_default(),
        }
    }
}

/// The trust policy: `principals` may assume the role, with the external id when one is
/// used.
pub fn trust_policy(
    partition: Partition,
    principals: &[Trusted],
    external_id: Option<&str>,
) -> PolicyDocument {
    let arns = principals.iter().map(|p| p.arn(partition)).collect();
    let mut statement = Statement::new(Effect::Allow)
        .sid("TrustVendor")
        .principal(Principal::aws(arns))
        .actions(vec!["sts:AssumeRole".into()]);
    if let Some(id) = external_id {
        statement = statement.when(
            Operator::StringEquals,
            "sts:ExternalId",
            vec![id.to_string()],
        );
    }
    PolicyDocument::new(vec![statement])
}

/// What a role's trust asks for beyond its principals and external id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustShape<'a> {
    /// The role's own ARN.
    pub self_arn: &'a str,
    /// The role must trust itself (Databricks): a second statement lets the account's
    /// principals assume it only as the role itself, with the external id.
    pub trusts_itself: bool,
    /// A two-step vendor's values are not known yet: until an Update gives them, the role
    /// trusts nothing but itself.
    pub pending: bool,
}

/// The trust policy of a role: the vendor's principals (with the external id), and the
/// role itself when its shape says so.
pub fn role_trust(
    partition: Partition,
    account: &str,
    principals: &[Trusted],
    external_id: Option<&str>,
    shape: TrustShape<'_>,
) -> PolicyDocument {
    let itself = |external_id: Option<&str>| {
        let statement = Statement::new(Effect::Allow)
            .sid("TrustItself")
            .principal(Principal::aws(vec![partition.account_root(account)]))
            .actions(vec!["sts:AssumeRole".into()])
            .when(
                Operator::ArnLike,
                "aws:PrincipalArn",
                vec![shape.self_arn.to_string()],
            );
        match external_id {
            Some(id) => statement.when(
                Operator::StringEquals,
                "sts:ExternalId",
                vec![id.to_string()],
            ),
            None => statement,
        }
    };
    if shape.pending {
        return PolicyDocument::new(vec![itself(None)]);
    }
    let mut document = trust_policy(partition, principals, external_id);
    if shape.trusts_itself {
        document.statements.push(itself(external_id));
    }
    document
}

/// The external id in a trust policy this function wrote, if any.
pub fn external_id_of(trust: &Value) -> Option<String> {
    trust["Statement"]
        .as_array()?
        .iter()
        .find_map(|s| s["Condition"]["StringEquals"]["sts:ExternalId"].as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accounts_are_trusted_as_their_root_in_the_stacks_partition() {
        let vendor = Trusted::parse(" 916419735646 ").unwrap();
        let policy = trust_policy(Partition::AwsCn, &[vendor], Some("x-1"));
        assert_eq!(
            policy.to_value(),
            json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "TrustVendor", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws-cn:iam::916419735646:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "x-1"}}}]})
        );
        assert_eq!(external_id_of(&policy.to_value()), Some("x-1".into()));
        assert!(Trusted::parse("*").unwrap_err().contains("wildcard"));
    }
}
