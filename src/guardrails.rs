//! What the function's deployer allows: the buckets, vendors, outside principals and KMS
//! keys any stack may use through this function. Read once at start-up from the
//! environment `template.yaml` sets from its parameters, and checked with the rest of the
//! validation, before any AWS call. A Delete is never checked: clean-up always works.

use wildmatch::WildMatch;

use crate::policy::trust::Trusted;
use crate::rules;
use crate::vendors::{self, Vendor};

pub const ALLOWED_BUCKETS_ENV: &str = "VENDOR_ACCESS_ALLOWED_BUCKETS";
pub const ALLOWED_VENDORS_ENV: &str = "VENDOR_ACCESS_ALLOWED_VENDORS";
pub const ALLOWED_TRUSTED_PRINCIPALS_ENV: &str = "VENDOR_ACCESS_ALLOWED_TRUSTED_PRINCIPALS";
pub const ALLOWED_KMS_KEY_ARNS_ENV: &str = "VENDOR_ACCESS_ALLOWED_KMS_KEY_ARNS";
pub const ALLOWED_ROOT_ROLE_NAMES_ENV: &str = "VENDOR_ACCESS_ALLOWED_ROOT_ROLE_NAMES";

/// The deployer's allow-lists.
#[derive(Debug, Clone, Default)]
pub struct Guardrails {
    /// Bucket names or `*`-patterns of this account; none when the deployer named none.
    pub buckets: Vec<String>,
    /// Catalog vendors whose fixed principals may be trusted; `None` for every vendor.
    pub vendors: Option<Vec<String>>,
    /// Principals of other accounts (account ids, or role and user ARNs) that may be trusted
    /// or named in bucket policies.
    pub trusted_principals: Vec<String>,
    /// KMS key ARNs (or `*`-patterns) beyond the default keys of allowed buckets.
    pub kms_key_arns: Vec<String>,
    /// Role names a vendor requires at path `/`, outside the fence (Scale's).
    pub root_role_names: Vec<String>,
    /// Nothing is refused: what `vendor-access plan` checks against when no deployer's
    /// settings are given. Never the Lambda's.
    pub unrestricted: bool,
}

/// A comma-separated list from the environment; unset and empty are both "none".
fn list(name: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

impl Guardrails {
    pub fn from_env() -> Self {
        let vendors = list(ALLOWED_VENDORS_ENV);
        let every_vendor =
            std::env::var(ALLOWED_VENDORS_ENV).is_err() || vendors.iter().any(|v| v == "*");
        Guardrails {
            buckets: list(ALLOWED_BUCKETS_ENV),
            vendors: (!every_vendor).then_some(vendors),
            trusted_principals: list(ALLOWED_TRUSTED_PRINCIPALS_ENV),
            kms_key_arns: list(ALLOWED_KMS_KEY_ARNS_ENV),
            root_role_names: list(ALLOWED_ROOT_ROLE_NAMES_ENV),
            unrestricted: false,
        }
    }

    /// The deployer's settings from the environment when any is set; else none at all.
    pub fn from_env_or_unrestricted() -> Self {
        let names = [
            ALLOWED_BUCKETS_ENV,
            ALLOWED_VENDORS_ENV,
            ALLOWED_TRUSTED_PRINCIPALS_ENV,
            ALLOWED_KMS_KEY_ARNS_ENV,
            ALLOWED_ROOT_ROLE_NAMES_ENV,
        ];
        match names.iter().any(|name| std::env::var_os(name).is_some()) {
            true => Guardrails::from_env(),
            false => Guardrails {
                unrestricted: true,
                ..Guardrails::default()
            },
        }
    }

    /// Every bucket of the account and every vendor; no outside principal, no extra key.
    pub fn any_bucket() -> Self {
        Guardrails {
            buckets: vec!["*".into()],
            ..Guardrails::default()
        }
    }

    /// Why `bucket` may not be touched, if it may not.
    pub fn bucket_problem(&self, bucket: &str) -> Option<String> {
        if self.unrestricted {
            return None;
        }
        if self
            .buckets
            .iter()
            .any(|pattern| WildMatch::new(pattern).matches(bucket))
        {
            return None;
        }
        Some(format!(
            "{bucket:?} is not a bucket the function's deployer allows; add it to the AllowedBuckets parameter of the vendor-access stack (allowed now: {})",
            shown(&self.buckets)
        ))
    }

    /// Why the preset `vendor` may not be used, if it may not.
    pub fn vendor_problem(&self, vendor: &Vendor) -> Option<String> {
        if self.unrestricted {
            return None;
        }
        let allowed = self.vendors.as_ref()?;
        if allowed.iter().any(|v| v.eq_ignore_ascii_case(vendor.name)) {
            return None;
        }
        Some(format!(
            "{:?} is not a vendor the function's deployer allows; add it to the AllowedVendors parameter of the vendor-access stack (allowed now: {})",
            vendor.name,
            shown(allowed)
        ))
    }

    fn allowed_vendors(&self) -> impl Iterator<Item = &'static Vendor> + '_ {
        vendors::CATALOG
            .iter()
            .filter(|v| self.vendor_problem(v).is_none())
    }

    /// Why a role may not trust `principal`, if it may not: it must be in the stack's own
    /// account, the fixed principal of an allowed vendor, or allow-listed (by itself or by
    /// its account).
    pub fn trusted_problem(&self, principal: &Trusted, account: &str) -> Option<String> {
        if self.unrestricted {
            return None;
        }
        if principal.account() == account || self.lists_principal(principal) {
            return None;
        }
        let vendor_principal = self
            .allowed_vendors()
            .filter_map(|v| v.fixed_principal())
            .filter_map(|p| Trusted::parse(p).ok())
            .any(|fixed| same_principal(&fixed, principal));
        if vendor_principal {
            return None;
        }
        Some(format!(
            "{} is outside this account and not a principal the function's deployer allows; add it to the AllowedTrustedPrincipals parameter of the vendor-access stack (allowed now: {})",
            quoted(principal),
            shown(&self.trusted_principals)
        ))
    }

    fn lists_principal(&self, principal: &Trusted) -> bool {
        self.trusted_principals
            .iter()
            .filter_map(|listed| Trusted::parse(listed).ok())
            .any(|listed| match &listed {
                // An account allows every principal of it.
                Trusted::Account(account) => principal.account() == account,
                Trusted::Arn(_) => same_principal(&listed, principal),
            })
    }

    /// Why a role named `name` may not be made at path `/`, if it may not.
    pub fn root_role_problem(&self, name: &str) -> Option<String> {
        if self.unrestricted {
            return None;
        }
        if self.root_role_names.iter().any(|n| n == name) {
            return None;
        }
        Some(format!(
            "\"/\" is outside /vendor-access/, where this function manages roles; the deployer allows a role at / only by name: add {name} to the AllowedRootRoleNames parameter of the vendor-access stack (allowed now: {})",
            shown(&self.root_role_names)
        ))
    }

    /// Why `key_arn` may not be named, if it may not.
    pub fn kms_key_problem(&self, key_arn: &str) -> Option<String> {
        if self.unrestricted {
            return None;
        }
        if self
            .kms_key_arns
            .iter()
            .any(|pattern| WildMatch::new(pattern).matches(key_arn))
        {
            return None;
        }
        Some(format!(
            "{key_arn:?} is not a key the function's deployer allows (the default keys of allowed buckets need no listing); add it to the AllowedKmsKeyArns parameter of the vendor-access stack (allowed now: {})",
            shown(&self.kms_key_arns)
        ))
    }
}

/// Whether two principals are the same, an account id being its root.
fn same_principal(a: &Trusted, b: &Trusted) -> bool {
    let root = |t: &Trusted| match t {
        Trusted::Account(account) => Some(account.clone()),
        Trusted::Arn(arn) => arn
            .strip_suffix(":root")
            .and_then(|rest| rest.rsplit(':').next())
            .filter(|account| rules::is_account_id(account))
            .map(str::to_string),
    };
    match (root(a), root(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a == b,
        _ => false,
    }
}

fn quoted(principal: &Trusted) -> String {
    match principal {
        Trusted::Account(account) => format!("{account:?}"),
        Trusted::Arn(arn) => format!("{arn:?}"),
    }
}

fn shown(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guardrails() -> Guardrails {
        Guardrails {
            buckets: vec!["datalake-*".into(), "ml-results".into()],
            vendors: Some(vec!["lightly".into()]),
            trusted_principals: vec![
                "222233334444".into(),
                "arn:aws:iam::555566667777:role/partner".into(),
            ],
            kms_key_arns: vec![],
            root_role_names: vec![],
            unrestricted: false,
        }
    }

    #[test]
    fn buckets_match_names_and_patterns_only() {
        let g = guardrails();
        assert_eq!(g.bucket_problem("datalake-raw"), None);
        assert_eq!(g.bucket_problem("ml-results"), None);
        let refused = g.bucket_problem("payroll-prod").unwrap();
        assert!(refused.contains("AllowedBuckets"), "{refused}");
        assert!(Guardrails::default().bucket_problem("any").is_some());
        assert_eq!(Guardrails::any_bucket().bucket_problem("any"), None);
    }

    #[test]
    fn principals_of_the_account_allowed_vendors_and_the_list_may_be_trusted() {
        let g = guardrails();
        let trusted = |p: &str| Trusted::parse(p).unwrap();
        let ours = "123456789012";
        for allowed in [
            "123456789012",
            "arn:aws:iam::123456789012:role/x",
            "916419735646",
            "arn:aws:iam::916419735646:root",
            "222233334444",
            "arn:aws:iam::222233334444:role/any",
            "arn:aws:iam::555566667777:role/partner",
        ] {
            assert_eq!(
                g.trusted_problem(&trusted(allowed), ours),
                None,
                "{allowed}"
            );
        }
        for refused in [
            "999999999999",
            "arn:aws:iam::597713067985:role/activeloop_backend",
            "arn:aws:iam::555566667777:role/other",
            "555566667777",
        ] {
            let problem = g.trusted_problem(&trusted(refused), ours).unwrap();
            assert!(problem.contains("AllowedTrustedPrincipals"), "{problem}");
        }
    }

    #[test]
    fn only_listed_vendors_are_allowed_and_every_one_by_default() {
        let activeloop = vendors::find("activeloop").unwrap();
        assert!(guardrails().vendor_problem(activeloop).is_some());
        assert_eq!(Guardrails::default().vendor_problem(activeloop), None);
    }
}
