//! The vendor catalog: what each vendor's public setup guide asks for, as data. One entry
//! per vendor; the `Vendor` presets of every resource type, their "must be one of"
//! messages, `docs/vendors.md` and the CDK's vendor types all come from [`CATALOG`].
//!
//! Adding a vendor is one entry here, with the guide it follows, and its tests.

use crate::policy::s3_access::AccessLevel;

/// Whom the role trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorPrincipal {
    /// The vendor's own account or role, the same for every customer.
    Fixed(&'static str),
    /// Shown to each customer in the vendor's app: `TrustedPrincipal` is required.
    PerCustomer,
}

/// Who issues the external id the role's trust requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalIdIssuer {
    /// The customer chooses it and tells the vendor: required, generated when omitted.
    Customer,
    /// The guide uses none; a stack may still set one.
    NotUsed,
}

/// A CORS rule a vendor's web app needs on the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorsRule {
    pub allowed_origins: &'static [&'static str],
    pub allowed_methods: &'static [&'static str],
    pub allowed_headers: &'static [&'static str],
    pub expose_headers: &'static [&'static str],
    pub max_age_seconds: Option<i32>,
}

/// Where the facts of an entry come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The vendor's setup guide.
    pub url: &'static str,
    /// When the entry was last checked against it (YYYY-MM-DD).
    pub checked: &'static str,
}

/// One vendor: its preset name and the defaults its guide implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vendor {
    /// The `Vendor` property's value.
    pub name: &'static str,
    /// The vendor's name as people write it.
    pub title: &'static str,
    pub principal: VendorPrincipal,
    pub external_id: ExternalIdIssuer,
    /// The role's `MaxSessionDuration`, in seconds.
    pub session_seconds: i32,
    /// The access to the customer's locations unless the stack says otherwise.
    pub access: AccessLevel,
    /// The vendor's own buckets the role also reads (never inspected for KMS).
    pub vendor_buckets: &'static [&'static str],
    /// The rule `Custom::BucketCors` writes for this vendor, if its app needs one.
    pub cors: Option<CorsRule>,
    pub source: Source,
}

impl Vendor {
    /// Whether `Custom::VendorS3Access` with this preset requires an external id by default.
    pub fn requires_external_id(&self) -> bool {
        self.external_id == ExternalIdIssuer::Customer
    }

    /// The principal the role trusts unless the stack names one.
    pub fn fixed_principal(&self) -> Option<&'static str> {
        match self.principal {
            VendorPrincipal::Fixed(principal) => Some(principal),
            VendorPrincipal::PerCustomer => None,
        }
    }
}

const CHECKED: &str = "2026-12-02";

pub const CATALOG: &[Vendor] = &[
    Vendor {
        name: "lightly",
        title: "Lightly",
        principal: VendorPrincipal::Fixed("916419735646"),
        external_id: ExternalIdIssuer::Customer,
        session_seconds: 43_200,
        access: AccessLevel::ReadWriteDelete,
        vendor_buckets: &[],
        cors: None,
        source: Source {
            url: "https://docs.lightly.ai/docs/aws-s3",
            checked: CHECKED,
        },
    },
    Vendor {
        name: "activeloop",
        title: "Activeloop Deep Lake",
        principal: VendorPrincipal::Fixed("arn:aws:iam::597713067985:role/activeloop_backend"),
        external_id: ExternalIdIssuer::NotUsed,
        session_seconds: 3600,
        access: AccessLevel::ReadWriteDelete,
        vendor_buckets: &[],
        cors: None,
        source: Source {
            url: "https://docs.deeplake.ai/latest/setup/storage-and-creds/managed-credentials/aws/provisioning",
            checked: CHECKED,
        },
    },
    Vendor {
        name: "kolena",
        title: "Kolena",
        principal: VendorPrincipal::PerCustomer,
        external_id: ExternalIdIssuer::NotUsed,
        session_seconds: 3600,
        access: AccessLevel::Read,
        vendor_buckets: &["kolena-public-datasets"],
        cors: Some(CorsRule {
            allowed_origins: &["https://app.kolena.io"],
            allowed_methods: &["GET"],
            allowed_headers: &["*"],
            expose_headers: &[],
            max_age_seconds: None,
        }),
        source: Source {
            url: "https://docs.kolena.com/advanced-usage/connecting-cloud-storage/amazon-s3/",
            checked: CHECKED,
        },
    },
];

/// Every vendor, by preset name: the choices of a role's or user's `Vendor`.
pub fn presets() -> Vec<(&'static str, &'static Vendor)> {
    CATALOG.iter().map(|v| (v.name, v)).collect()
}

/// The vendors whose app needs a CORS rule: the choices of `Custom::BucketCors`'s `Vendor`.
pub fn cors_presets() -> Vec<(&'static str, &'static Vendor)> {
    CATALOG
        .iter()
        .filter(|v| v.cors.is_some())
        .map(|v| (v.name, v))
        .collect()
}

pub fn find(name: &str) -> Option<&'static Vendor> {
    CATALOG.iter().find(|v| v.name.eq_ignore_ascii_case(name))
}

/// The table of presets in `docs/vendors.md`, as Markdown rows under a header.
pub fn docs_table() -> String {
    let mut table = String::from(
        "| preset | vendor | the role trusts | external id | session | access | also reads | CORS rule | guide (checked) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for v in CATALOG {
        let trusts = match v.principal {
            VendorPrincipal::Fixed(principal) => format!("`{principal}`"),
            VendorPrincipal::PerCustomer => "per customer: `TrustedPrincipal` required".into(),
        };
        let external_id = match v.external_id {
            ExternalIdIssuer::Customer => "chosen by you; generated when omitted",
            ExternalIdIssuer::NotUsed => "not used (optional)",
        };
        let buckets = match v.vendor_buckets {
            [] => "—".to_string(),
            buckets => buckets
                .iter()
                .map(|b| format!("`{b}`"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let cors = v.cors.map_or("—".to_string(), |rule| {
            format!(
                "{} from {}",
                rule.allowed_methods.join("/"),
                rule.allowed_origins.join(", ")
            )
        });
        table.push_str(&format!(
            "| `{}` | {} | {trusts} | {external_id} | {} h | `{}` | {buckets} | {cors} | [guide]({}) ({}) |\n",
            v.name,
            v.title,
            v.session_seconds / 3600,
            crate::cfn::properties::Choice::name(v.access),
            v.source.url,
            v.source.checked,
        ));
    }
    table
}

/// The CDK's vendor types (`cdk/src/vendors.ts`), from the catalog.
pub fn cdk_types() -> String {
    let quoted = |names: Vec<&str>| {
        names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let per_customer: Vec<String> = CATALOG
        .iter()
        .filter(|v| v.principal == VendorPrincipal::PerCustomer)
        .map(|v| format!("'{}'", v.name))
        .collect();
    format!(
        "// Generated from the vendor catalog (src/vendors.rs) by `make vendors`;\n\
         // tests/vendor_catalog.rs fails when it differs. Do not edit by hand.\n\n\
         /** A vendor preset of `VendorS3Access` and `VendorS3User`: see docs/vendors.md. */\n\
         export type VendorPreset = {};\n\n\
         /** A vendor whose web app needs a CORS rule on the bucket: see docs/vendors.md. */\n\
         export type CorsVendorPreset = {};\n\n\
         /** Presets whose principal each customer gets from the vendor: `trustedPrincipal` is required. */\n\
         export const PRESETS_WITHOUT_PRINCIPAL: readonly VendorPreset[] = [{}];\n",
        quoted(presets().into_iter().map(|(n, _)| n).collect()),
        quoted(cors_presets().into_iter().map(|(n, _)| n).collect()),
        per_customer.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;

    #[test]
    fn every_entry_is_well_formed() {
        for (i, vendor) in CATALOG.iter().enumerate() {
            assert!(
                vendor
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                vendor.name
            );
            assert!(
                CATALOG[..i].iter().all(|other| other.name != vendor.name),
                "{} twice",
                vendor.name
            );
            if let Some(principal) = vendor.fixed_principal() {
                assert_eq!(rules::trusted_principal_problem(principal), None);
            }
            assert!((3600..=43_200).contains(&vendor.session_seconds));
            for bucket in vendor.vendor_buckets {
                assert_eq!(rules::bucket_name_problem(bucket), None);
            }
            assert!(vendor.source.url.starts_with("https://"));
            assert_eq!(vendor.source.checked.len(), 10);
        }
    }
}
