//! What a security reviewer accepts in a bucket-policy statement a stack writes through this
//! function: Allow statements that grant only to principals the account or the deployer
//! vouches for, and no Deny that can lock the account (or this function) out unless the
//! stack says it accepts that risk.

use super::{Effect, Operator, PrincipalType, Statement};
use crate::guardrails::Guardrails;
use crate::policy::trust::Trusted;
use crate::rules;

/// Condition keys that single out principals: a Deny conditioned on one of them does not
/// fall on everyone. `aws:PrincipalIsAWSService` is not among them: exempting AWS services
/// still leaves every person and application of the account denied.
const PRINCIPAL_KEYS: [&str; 7] = [
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principaltype",
    "aws:userid",
    "aws:username",
];
const PRINCIPAL_TAG_KEY: &str = "aws:principaltag/";

/// Condition keys that depend only on where a request comes from: a Deny conditioned on
/// them shuts out everyone who happens to be elsewhere.
const NETWORK_KEYS: [&str; 5] = [
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:vpcsourceip",
    "aws:sourcevpcarn",
];

/// The actions that manage a bucket's policy: denying them can leave nobody able to fix it.
const POLICY_ACTIONS: [&str; 2] = ["s3:PutBucketPolicy", "s3:DeleteBucketPolicy"];

const ACCEPT: &str = "or set AcceptLockoutRisk: true";

/// Why an Allow statement is not one a reviewer can accept, each reason once.
pub fn allow_problems(
    statement: &Statement,
    account: &str,
    guardrails: &Guardrails,
) -> Vec<String> {
    if statement.effect != Effect::Allow {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for (field, present, instead) in [
        (
            "NotPrincipal",
            statement.not_principal.is_some(),
            "name the principals instead",
        ),
        (
            "NotAction",
            statement.not_action.is_some(),
            "list the actions instead",
        ),
        (
            "NotResource",
            statement.not_resource.is_some(),
            "list the resources instead",
        ),
    ] {
        if present {
            problems.push(format!(
                "an Allow with {field} grants everything but what it names; {instead}"
            ));
        }
    }
    let Some(principal) = &statement.principal else {
        return problems;
    };
    if principal.is_everyone() {
        problems.push(
            "an Allow to \"*\" opens the bucket to everyone; name the principals instead".into(),
        );
        return problems;
    }
    for (kind, who) in principal.all() {
        if let Some(problem) = principal_problem(statement, kind, who, account, guardrails) {
            problems.push(problem);
        }
    }
    problems
}

fn principal_problem(
    statement: &Statement,
    kind: PrincipalType,
    who: &str,
    account: &str,
    guardrails: &Guardrails,
) -> Option<String> {
    match kind {
        PrincipalType::Aws => match Trusted::parse(who) {
            Ok(trusted) => guardrails.trusted_problem(&trusted, account),
            Err(problem) => Some(problem),
        },
        PrincipalType::Service => {
            let source = statement
                .condition
                .values(&Operator::StringEquals, "aws:SourceAccount");
            (source.is_empty() || source.iter().any(|a| a != account)).then(|| {
                format!(
                    "an Allow to the service {who:?} must be limited to this account's requests: add \"Condition\": {{\"StringEquals\": {{\"aws:SourceAccount\": \"{account}\"}}}}"
                )
            })
        }
        PrincipalType::Federated | PrincipalType::CanonicalUser => Some(format!(
            "{who:?} is a {} principal; bucket policies written through this function grant only to IAM principals (AWS) and to services",
            kind_name(kind)
        )),
    }
}

fn kind_name(kind: PrincipalType) -> &'static str {
    crate::cfn::properties::Choice::name(kind)
}

/// Why a Deny could lock the account's own people, its audit trail or this function out,
/// if it could. `account` is the stack's, when known: a Deny naming the account itself
/// falls on everyone in it.
pub fn lockout_problem(
    statement: &Statement,
    account: Option<&str>,
    bucket_arn: &str,
) -> Option<String> {
    if statement.effect != Effect::Deny {
        return None;
    }
    let keys = statement.condition_keys();
    let singles_out = keys
        .iter()
        .any(|k| PRINCIPAL_KEYS.contains(&k.as_str()) || k.starts_with(PRINCIPAL_TAG_KEY));
    let by_place_or_always =
        keys.is_empty() || keys.iter().any(|k| NETWORK_KEYS.contains(&k.as_str()));
    let unconditional = by_place_or_always && !singles_out;
    if statement.not_principal.is_some() {
        return Some(format!(
            "a Deny with NotPrincipal falls on every principal but the ones it names, your administrators and AWS services included; name the principals to deny, {ACCEPT}"
        ));
    }
    let principal = statement.principal.as_ref()?;
    if let Some(service) = principal.of_type(PrincipalType::Service).first() {
        return Some(format!(
            "a Deny for the service {service:?} can stop what it does for the bucket (an audit trail, log delivery, replication); {ACCEPT}"
        ));
    }
    if unconditional && principal.is_everyone() {
        return Some(format!(
            "denies every principal with none exempted (no NotPrincipal, no aws:PrincipalArn-like condition), which can lock your own administrators out; exempt one, {ACCEPT}"
        ));
    }
    let names_account = account.is_some_and(|account| {
        principal.of_type(PrincipalType::Aws).iter().any(|p| {
            *p == account
                || rules::arn_parts(p).is_some_and(|a| a.account == account && a.resource == "root")
        })
    });
    if unconditional && names_account {
        return Some(format!(
            "denies this account itself, so every principal of it, your administrators included; exempt one with an aws:PrincipalArn condition, {ACCEPT}"
        ));
    }
    if unconditional && denies_policy_management(statement, bucket_arn) {
        return Some(format!(
            "denies s3:PutBucketPolicy or s3:DeleteBucketPolicy on the bucket, which can leave nobody (this function included) able to change its policy again; {ACCEPT}"
        ));
    }
    None
}

/// Whether a Deny covers managing the bucket's policy.
fn denies_policy_management(statement: &Statement, bucket_arn: &str) -> bool {
    let matches = |pattern: &str, text: &str| {
        wildmatch::WildMatch::new(&pattern.to_ascii_lowercase()).matches(&text.to_ascii_lowercase())
    };
    let covers_action = |action: &str| match (&statement.action, &statement.not_action) {
        (Some(actions), _) => actions.values().iter().any(|a| matches(a, action)),
        (None, Some(excluded)) => !excluded.values().iter().any(|a| matches(a, action)),
        (None, None) => false,
    };
    let covers_bucket = match (&statement.resource, &statement.not_resource) {
        (Some(resources), _) => resources.values().iter().any(|r| matches(r, bucket_arn)),
        (None, Some(excluded)) => !excluded.values().iter().any(|r| matches(r, bucket_arn)),
        (None, None) => false,
    };
    covers_bucket && POLICY_ACTIONS.iter().any(|a| covers_action(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "123456789012";
    const BUCKET: &str = "arn:aws:s3:::data";

    fn statement(value: serde_json::Value) -> Statement {
        serde_json::from_value(value).expect("a statement")
    }

    fn allowed(value: serde_json::Value) -> Vec<String> {
        let guardrails = Guardrails {
            trusted_principals: vec!["222233334444".into()],
            ..Guardrails::any_bucket()
        };
        allow_problems(&statement(value), ACCOUNT, &guardrails)
    }

    #[test]
    fn an_allow_names_only_principals_the_account_or_the_deployer_vouches_for() {
        let allow = |principal: serde_json::Value| json!({"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"});
        for fine in [
            json!({"AWS": "arn:aws:iam::123456789012:role/reader"}),
            json!({"AWS": "123456789012"}),
            json!({"AWS": "arn:aws:iam::222233334444:root"}),
        ] {
            assert_eq!(allowed(allow(fine.clone())), Vec::<String>::new(), "{fine}");
        }
        for refused in [
            json!("*"),
            json!({"AWS": "*"}),
            json!({"AWS": "arn:aws:iam::999999999999:root"}),
            json!({"Service": "cloudtrail.amazonaws.com"}),
            json!({"Federated": "cognito-identity.amazonaws.com"}),
        ] {
            assert_eq!(allowed(allow(refused.clone())).len(), 1, "{refused}");
        }
        let mut with_source = allow(json!({"Service": "logging.s3.amazonaws.com"}));
        with_source["Condition"] = json!({"StringEquals": {"aws:SourceAccount": ACCOUNT}});
        assert!(allowed(with_source).is_empty());
        let not_forms = json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"},
            "NotAction": "s3:DeleteObject", "NotResource": "arn:aws:s3:::data/private/*"});
        assert_eq!(allowed(not_forms).len(), 3);
    }

    #[test]
    fn every_lockout_form_is_found() {
        let deny = |extra: serde_json::Value| {
            let mut s = json!({"Effect": "Deny", "Action": "s3:*", "Resource": [BUCKET, "arn:aws:s3:::data/*"]});
            s.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            lockout_problem(&statement(s), Some(ACCOUNT), BUCKET)
        };
        for form in [
            json!({"Principal": "*"}),
            json!({"Principal": {"AWS": ACCOUNT}}),
            json!({"Principal": {"AWS": "arn:aws:iam::123456789012:root"}}),
            json!({"NotPrincipal": {"AWS": "arn:aws:iam::123456789012:role/admin"}}),
            json!({"Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject"}),
            json!({"Principal": {"AWS": "arn:aws:iam::123456789012:role/vendor-access-fn"}, "Action": "s3:PutBucket*"}),
        ] {
            assert!(deny(form.clone()).is_some(), "{form}");
        }
        for fine in [
            json!({"Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            json!({"Principal": "*", "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/admin"}}}),
            json!({"Principal": {"AWS": "arn:aws:iam::123456789012:role/x"}, "Action": "s3:GetObject"}),
        ] {
            assert_eq!(deny(fine.clone()), None, "{fine}");
        }
    }
}
