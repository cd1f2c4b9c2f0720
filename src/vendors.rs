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
    /// The vendor shows it to each customer: required, and never generated (a made-up one
    /// could not match what the vendor sends).
    Vendor,
    /// The guide uses none, or makes it optional; a stack may still set one.
    NotUsed,
}

/// How the vendor's guide gives it access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// A role in the customer's account that the vendor assumes (`Custom::VendorS3Access`).
    Role,
    /// Statements in the bucket's own policy naming the vendor's principal. Write them with
    /// `Custom::BucketPolicyStatements`, whose review accepts the principals of allowed
    /// vendors; the catalog's CORS rule applies through `Custom::BucketCors`.
    BucketPolicy,
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
    pub mechanism: Mechanism,
    pub external_id: ExternalIdIssuer,
    /// The role's `MaxSessionDuration`, in seconds.
    pub session_seconds: i32,
    /// The vendor builds the role's ARN itself from the account id and this name (Scale):
    /// the role must have this name at path `/`, outside the function's `/vendor-access/`
    /// fence, which only the deployer can allow (`AllowedRootRoleNames`).
    pub role_name: Option<&'static str>,
    /// The role must trust itself, besides the vendor (Databricks).
    pub trusts_itself: bool,
    /// The vendor's principal or external id exist only once the role does: the role is
    /// made trusting only itself, and an Update with the vendor's values completes it.
    pub two_step: bool,
    /// The access to the customer's locations unless the stack says otherwise.
    pub access: AccessLevel,
    /// The vendor's own buckets the role also reads (never inspected for KMS).
    pub vendor_buckets: &'static [&'static str],
    /// Object actions the guide needs with every write (Segment's `s3:PutObjectAcl`); the
    /// permissions boundary allows them.
    pub extra_writes: &'static [&'static str],
    /// The rule `Custom::BucketCors` writes for this vendor, if its app needs one.
    pub cors: Option<CorsRule>,
    /// A bucket-policy vendor whose own principal must also use the bucket's KMS key
    /// (W&B): `Custom::BucketPolicyStatements` gives it a grant, retired on delete.
    pub kms_for_vendor: bool,
    pub source: Source,
}

impl Vendor {
    /// Whether `Custom::VendorS3Access` with this preset requires an external id by default.
    pub fn requires_external_id(&self) -> bool {
        self.external_id != ExternalIdIssuer::NotUsed
    }

    /// Whether the function may make up the external id when the stack gives none.
    pub fn generates_external_id(&self) -> bool {
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

/// What an entry leaves unsaid: a role the vendor's own principal assumes, with no external
/// id, for 1-hour sessions, reading the customer's locations, nothing else.
pub const ROLE: Vendor = Vendor {
    name: "",
    title: "",
    principal: VendorPrincipal::PerCustomer,
    mechanism: Mechanism::Role,
    external_id: ExternalIdIssuer::NotUsed,
    session_seconds: 3600,
    role_name: None,
    trusts_itself: false,
    two_step: false,
    access: AccessLevel::Read,
    vendor_buckets: &[],
    extra_writes: &[],
    cors: None,
    kms_for_vendor: false,
    source: Source {
        url: "",
        checked: CHECKED,
    },
};

pub const CATALOG: &[Vendor] = &[
    Vendor {
        name: "lightly",
        title: "Lightly",
        principal: VendorPrincipal::Fixed("916419735646"),
        external_id: ExternalIdIssuer::Customer,
        session_seconds: 43_200,
        access: AccessLevel::ReadWriteDelete,
        source: Source {
            url: "https://docs.lightly.ai/docs/aws-s3",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "activeloop",
        title: "Activeloop Deep Lake",
        principal: VendorPrincipal::Fixed("arn:aws:iam::597713067985:role/activeloop_backend"),
        access: AccessLevel::ReadWriteDelete,
        // The guide's "Enabling CORS" origin is *.activeloop.ai; S3 matches it against the
        // whole Origin header, so written with its scheme it allows the same app.
        cors: Some(CorsRule {
            allowed_origins: &["https://*.activeloop.ai"],
            allowed_methods: &["GET", "HEAD"],
            allowed_headers: &["*"],
            expose_headers: &[],
            max_age_seconds: None,
        }),
        source: Source {
            url: "https://docs.deeplake.ai/latest/setup/storage-and-creds/managed-credentials/aws/provisioning",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "kolena",
        title: "Kolena",
        principal: VendorPrincipal::PerCustomer,
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
        ..ROLE
    },
    Vendor {
        name: "scale",
        title: "Scale AI",
        principal: VendorPrincipal::Fixed("307185671274"),
        external_id: ExternalIdIssuer::Vendor,
        role_name: Some("ScaleAI-Integration"),
        source: Source {
            url: "https://scale.com/docs/aws-s3",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "census",
        title: "Census (S3 source)",
        principal: VendorPrincipal::Fixed("341876425553"),
        external_id: ExternalIdIssuer::Vendor,
        source: Source {
            url: "https://docs.getcensus.com/sources/available-sources/s3",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "bitmovin",
        title: "Bitmovin (encoding input)",
        principal: VendorPrincipal::Fixed(
            "arn:aws:iam::630681592166:user/bitmovinCustomerS3Access",
        ),
        source: Source {
            url: "https://developer.bitmovin.com/encoding/docs/what-permissions-do-i-need-to-set-on-my-s3-buckets-for-encoding-input-and-output",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "fastlabel",
        title: "FastLabel",
        principal: VendorPrincipal::Fixed("595343846762"),
        external_id: ExternalIdIssuer::Vendor,
        source: Source {
            url: "https://fastlabel.notion.site/AWS-S3-f7c05cd8333445f68afb2f230e1aedf2",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "axinom-eu",
        title: "Axinom Encoding (EU)",
        principal: VendorPrincipal::Fixed("201119604013"),
        external_id: ExternalIdIssuer::Vendor,
        access: AccessLevel::ReadWrite,
        source: Source {
            url: "https://docs.axinom.com/services/encoding/howto/storage-with-assumerole-aws",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "axinom-us",
        title: "Axinom Encoding (US)",
        principal: VendorPrincipal::Fixed("358917058612"),
        external_id: ExternalIdIssuer::Vendor,
        access: AccessLevel::ReadWrite,
        source: Source {
            url: "https://docs.axinom.com/services/encoding/howto/storage-with-assumerole-aws",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "databricks",
        title: "Databricks (Unity Catalog storage credential)",
        principal: VendorPrincipal::Fixed(
            "arn:aws:iam::414351767826:role/unity-catalog-prod-UCMasterRole-14S5ZJVKOTYTL",
        ),
        external_id: ExternalIdIssuer::Vendor,
        trusts_itself: true,
        two_step: true,
        access: AccessLevel::ReadWriteDelete,
        source: Source {
            url: "https://docs.databricks.com/en/connect/unity-catalog/storage-credentials.html",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "segment",
        title: "Segment (AWS S3 destination)",
        principal: VendorPrincipal::Fixed(
            "arn:aws:iam::595280932656:role/segment-s3-integration-production-access",
        ),
        external_id: ExternalIdIssuer::Vendor,
        access: AccessLevel::ReadWrite,
        extra_writes: &["s3:PutObjectAcl"],
        source: Source {
            url: "https://segment.com/docs/connections/storage/catalog/aws-s3/",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "snowflake",
        title: "Snowflake (storage integration)",
        principal: VendorPrincipal::PerCustomer,
        external_id: ExternalIdIssuer::Vendor,
        two_step: true,
        access: AccessLevel::ReadWriteDelete,
        source: Source {
            url: "https://docs.snowflake.com/en/user-guide/data-load-s3-config-storage-integration",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "labelbox",
        title: "Labelbox",
        principal: VendorPrincipal::PerCustomer,
        external_id: ExternalIdIssuer::Vendor,
        source: Source {
            url: "https://docs.labelbox.com/docs/import-aws-s3-data",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "roboflow",
        title: "Roboflow",
        principal: VendorPrincipal::PerCustomer,
        external_id: ExternalIdIssuer::Vendor,
        source: Source {
            url: "https://docs.roboflow.com/datasets/adding-data/datasources/datasource-credentials/aws-s3",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "dataloop",
        title: "Dataloop",
        principal: VendorPrincipal::PerCustomer,
        access: AccessLevel::ReadWriteDelete,
        source: Source {
            url: "https://dataloop.ai/docs/aws-cross-account-integration",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "v7",
        title: "V7 Darwin",
        principal: VendorPrincipal::Fixed("arn:aws:iam::258327614892:role/external_s3"),
        mechanism: Mechanism::BucketPolicy,
        access: AccessLevel::ReadWrite,
        source: Source {
            url: "https://docs.v7labs.com/docs/aws-s3-configuration",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "wandb",
        title: "Weights & Biases (secure storage connector)",
        principal: VendorPrincipal::Fixed("arn:aws:iam::725579432336:role/WandbIntegration"),
        mechanism: Mechanism::BucketPolicy,
        access: AccessLevel::ReadWriteDelete,
        cors: Some(CorsRule {
            allowed_origins: &["*"],
            allowed_methods: &["GET", "HEAD", "PUT"],
            allowed_headers: &["*"],
            expose_headers: &["ETag"],
            max_age_seconds: Some(3000),
        }),
        kms_for_vendor: true,
        source: Source {
            url: "https://docs.wandb.ai/guides/hosting/data-security/secure-storage-connector",
            checked: CHECKED,
        },
        ..ROLE
    },
    Vendor {
        name: "segments-ai",
        title: "Segments.ai",
        principal: VendorPrincipal::Fixed("arn:aws:iam::931508227573:user/segmentsai-prod-user"),
        mechanism: Mechanism::BucketPolicy,
        cors: Some(CorsRule {
            allowed_origins: &["https://segments.ai", "https://api.segments.ai"],
            allowed_methods: &["GET"],
            allowed_headers: &["*"],
            expose_headers: &[],
            max_age_seconds: None,
        }),
        source: Source {
            url: "https://docs.segments.ai/how-to-integrate/import-data/cloud-integration",
            checked: CHECKED,
        },
        ..ROLE
    },
];

/// The role names vendors require at path `/` (see [`Vendor::role_name`]).
pub fn root_role_names() -> impl Iterator<Item = &'static str> {
    CATALOG.iter().filter_map(|v| v.role_name)
}

/// The vendors that assume a role, by preset name: the choices of `Custom::VendorS3Access`'s
/// `Vendor`.
pub fn presets() -> Vec<(&'static str, &'static Vendor)> {
    CATALOG
        .iter()
        .filter(|v| v.mechanism == Mechanism::Role)
        .map(|v| (v.name, v))
        .collect()
}

/// The vendors whose guide gives access by bucket policy: the choices of
/// `Custom::BucketPolicyStatements`'s `Vendor`.
pub fn bucket_policy_presets() -> Vec<(&'static str, &'static Vendor)> {
    CATALOG
        .iter()
        .filter(|v| v.mechanism == Mechanism::BucketPolicy && v.fixed_principal().is_some())
        .map(|v| (v.name, v))
        .collect()
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
        "| preset | vendor | access given by | principal | external id | session | access | also reads | CORS rule | guide (checked) |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for v in CATALOG {
        let trusts = match v.principal {
            VendorPrincipal::Fixed(principal) => format!("`{principal}`"),
            VendorPrincipal::PerCustomer => "per customer: `TrustedPrincipal` required".into(),
        };
        let external_id = match v.external_id {
            ExternalIdIssuer::Customer => "chosen by you; generated when omitted",
            ExternalIdIssuer::Vendor => "issued by the vendor: `ExternalId` required",
            ExternalIdIssuer::NotUsed => "not used (optional)",
        };
        let mut external_id = external_id.to_string();
        if v.two_step {
            external_id.push_str("; two steps: create, then update with the vendor's values");
        }
        if v.trusts_itself {
            external_id.push_str("; the role also trusts itself");
        }
        if let Some(name) = v.role_name {
            external_id.push_str(&format!(
                "; the role must be `{name}` at path `/` (the deployer allows it: `AllowedRootRoleNames`)"
            ));
        }
        let (how, session) = match v.mechanism {
            Mechanism::Role => (
                "role (`Custom::VendorS3Access`)",
                format!("{} h", v.session_seconds / 3600),
            ),
            Mechanism::BucketPolicy => ("bucket policy", "—".to_string()),
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
            "| `{}` | {} | {how} | {trusts} | {external_id} | {session} | `{}` | {buckets} | {cors} | [guide]({}) ({}) |\n",
            v.name,
            v.title,
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
         /** A vendor whose guide gives access by bucket policy: see docs/vendors.md. */\n\
         export type BucketPolicyVendorPreset = {};\n\n\
         /** Presets whose principal each customer gets from the vendor: `trustedPrincipal` is required. */\n\
         export const PRESETS_WITHOUT_PRINCIPAL: readonly VendorPreset[] = [{}];\n\n\
         /** Presets whose external id the vendor issues: `externalId` is required. */\n\
         export const PRESETS_NEEDING_EXTERNAL_ID: readonly VendorPreset[] = [{}];\n",
        quoted(presets().into_iter().map(|(n, _)| n).collect()),
        quoted(cors_presets().into_iter().map(|(n, _)| n).collect()),
        quoted(
            bucket_policy_presets()
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        ),
        per_customer.join(", "),
        presets()
            .into_iter()
            .filter(|(_, v)| v.external_id == ExternalIdIssuer::Vendor)
            .map(|(n, _)| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", "),
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
