//! `Custom::BucketCors`: CORS rules merged into a bucket's existing configuration.
//!
//! The rules this resource owns carry the id `vendor-access-<owner-hash>-<n>`; every other
//! rule of the bucket is kept as it is, in its place. New rules go after the bucket's own,
//! because S3 applies the first rule that matches a request.

use serde_json::{Map, Value, json};

use crate::aws::Clients;
use crate::aws::bucket_documents::{
    BucketAccess, BucketPart, CorsOf, MAX_CORS_RULES, MergedIntoBucket,
};
use crate::cfn::Invocation;
use crate::cfn::properties::{Fields, FromProperties, InvalidProperties, Problem, Problems};
use crate::policy::merge::OwnedEntries;
use crate::rules;
use crate::settings::Settings;
use crate::vendors::{self, Vendor};

const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// The CORS rules of one bucket, owned by one resource.
pub struct BucketCors {
    access: BucketAccess,
}

impl BucketCors {
    pub fn new(clients: &Clients, settings: &Settings) -> MergedIntoBucket<Self> {
        MergedIntoBucket(BucketCors {
            access: BucketAccess::new(clients, settings),
        })
    }
}

impl BucketPart for BucketCors {
    const RESOURCE_TYPE: &'static str = "Custom::BucketCors";
    const KIND: &'static str = "cors";
    const IDS_OUTPUT: &'static str = "RuleIds";
    type Properties = BucketCorsProperties;
    type Document<'a> = CorsOf<'a>;

    fn bucket(properties: &BucketCorsProperties) -> &str {
        &properties.bucket
    }

    fn id_prefix(owner_hash: &str) -> String {
        format!("vendor-access-{owner_hash}-")
    }

    fn owned(properties: &BucketCorsProperties, invocation: &Invocation) -> OwnedEntries {
        properties.owned(&Self::id_prefix(&invocation.owner().hash()))
    }

    fn document<'a>(&'a self, bucket: &'a str, _invocation: &'a Invocation) -> CorsOf<'a> {
        CorsOf {
            s3: &self.access.s3,
            bucket,
        }
    }

    fn access(&self) -> &BucketAccess {
        &self.access
    }

    /// A vendor's preset only when the deployer allows the vendor.
    fn guard_own(
        &self,
        _invocation: &Invocation,
        properties: &BucketCorsProperties,
    ) -> Vec<Problem> {
        properties
            .vendor
            .and_then(|v| self.access.guardrails.vendor_problem(v))
            .map(|problem| Problem::new("Vendor", problem))
            .into_iter()
            .collect()
    }
}

/// What `Custom::BucketCors` is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketCorsProperties {
    pub bucket: String,
    /// The preset, when `Vendor` names one.
    pub vendor: Option<&'static Vendor>,
    /// The preset's rules first, then `Rules`.
    pub rules: Vec<Rule>,
}

impl BucketCorsProperties {
    /// The rules, each with the id `<prefix><n>`, counted from 1.
    fn owned(&self, prefix: &str) -> OwnedEntries {
        let entries = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| rule.to_json(&format!("{prefix}{}", i + 1)))
            .collect();
        OwnedEntries {
            prefix: prefix.to_string(),
            entries,
        }
    }
}

impl FromProperties for BucketCorsProperties {
    fn from_properties(properties: &Map<String, Value>) -> Result<Self, InvalidProperties> {
        let problems = Problems::new();
        let mut fields = Fields::root(properties, &problems);
        let bucket = rules::read_bucket(&mut fields);
        let has_vendor = fields.has("Vendor");
        let preset = fields.one_of("Vendor", &vendors::cors_presets());
        let mut rules: Vec<Rule> = preset.and_then(Rule::of_vendor).into_iter().collect();
        let explicit = fields.object_list("Rules", Rule::read);
        match &explicit {
            None if !has_vendor && !fields.has("Rules") => {
                fields.problem("Rules", "is required unless Vendor is set");
            }
            Some(listed) if listed.is_empty() && !has_vendor => {
                fields.problem("Rules", "must list at least one rule unless Vendor is set");
            }
            _ => {}
        }
        rules.extend(explicit.unwrap_or_default());
        if rules.len() > MAX_CORS_RULES {
            fields.problem(
                "Rules",
                format!(
                    "{} rules (with the Vendor preset's) exceed S3's limit of {MAX_CORS_RULES} per bucket",
                    rules.len()
                ),
            );
        }
        fields.finish();
        problems.into_result(BucketCorsProperties {
            bucket: bucket.unwrap_or_default(),
            vendor: preset,
            rules,
        })
    }
}

/// One CORS rule as the properties give it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

impl Rule {
    /// The rule a vendor's app needs, from the catalog.
    fn of_vendor(vendor: &Vendor) -> Option<Rule> {
        let rule = vendor.cors?;
        let owned = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        Some(Rule {
            allowed_origins: owned(rule.allowed_origins),
            allowed_methods: owned(rule.allowed_methods),
            allowed_headers: owned(rule.allowed_headers),
            expose_headers: owned(rule.expose_headers),
            max_age_seconds: rule.max_age_seconds,
        })
    }

    fn read(fields: &mut Fields<'_>) -> Option<Rule> {
        let origins = fields.string_list("AllowedOrigins");
        let origins = fields.required("AllowedOrigins", origins);
        let methods = fields.string_list("AllowedMethods");
        let methods = fields.required("AllowedMethods", methods);
        let allowed_headers = fields.string_list("AllowedHeaders").unwrap_or_default();
        let expose_headers = fields.string_list("ExposeHeaders").unwrap_or_default();
        let max_age = fields.integer("MaxAgeSeconds");

        if let Some(origins) = &origins {
            if origins.is_empty() {
                fields.problem("AllowedOrigins", "must list at least one origin");
            }
            fields.check_items("AllowedOrigins", origins, origin_problem);
        }
        let methods: Option<Vec<String>> = methods.map(|methods| {
            if methods.is_empty() {
                fields.problem("AllowedMethods", "must list at least one method");
            }
            methods.iter().map(|m| m.to_ascii_uppercase()).collect()
        });
        if let Some(methods) = &methods {
            fields.check_items("AllowedMethods", methods, |method| {
                (!METHODS.contains(&method))
                    .then(|| format!("must be one of {}, got {method:?}", METHODS.join(", ")))
            });
        }
        fields.check_items("AllowedHeaders", &allowed_headers, |header| {
            header_problem(header).or_else(|| {
                (header.matches('*').count() > 1)
                    .then(|| "may contain at most one * wildcard".to_string())
            })
        });
        fields.check_items("ExposeHeaders", &expose_headers, header_problem);
        let max_age_seconds = max_age.and_then(|seconds| {
            let fits = i32::try_from(seconds).ok().filter(|s| *s >= 0);
            if fits.is_none() {
                fields.problem(
                    "MaxAgeSeconds",
                    format!("must be between 0 and {}, got {seconds}", i32::MAX),
                );
            }
            fits
        });
        Some(Rule {
            allowed_origins: origins?,
            allowed_methods: methods?,
            allowed_headers,
            expose_headers,
            max_age_seconds,
        })
    }

    /// The rule as S3 names its fields, with the id it is owned under.
    fn to_json(&self, id: &str) -> Value {
        let mut rule = Map::new();
        rule.insert("ID".into(), json!(id));
        let lists = [
            ("AllowedHeaders", &self.allowed_headers),
            ("AllowedMethods", &self.allowed_methods),
            ("AllowedOrigins", &self.allowed_origins),
            ("ExposeHeaders", &self.expose_headers),
        ];
        for (name, items) in lists {
            if !items.is_empty() {
                rule.insert(name.into(), json!(items));
            }
        }
        if let Some(seconds) = self.max_age_seconds {
            rule.insert("MaxAgeSeconds".into(), json!(seconds));
        }
        Value::Object(rule)
    }
}

/// Browsers send `Origin: scheme://host[:port]`; an origin written any other way (with a
/// path, or without a scheme) never matches anything.
fn origin_problem(origin: &str) -> Option<String> {
    if origin == "*" {
        return None;
    }
    if origin.matches('*').count() > 1 {
        return Some("may contain at most one * wildcard".into());
    }
    let example = "use * or scheme://host[:port], e.g. https://app.kolena.io";
    let Some((scheme, host)) = origin.split_once("://") else {
        return Some(format!("{origin:?} is not an origin; {example}"));
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    if !scheme_ok || host.is_empty() || origin.chars().any(char::is_whitespace) {
        return Some(format!("{origin:?} is not an origin; {example}"));
    }
    if host.contains('/') {
        return Some(format!(
            "{origin:?} has a path, which an origin never has; {example}"
        ));
    }
    None
}

fn header_problem(header: &str) -> Option<String> {
    (header.is_empty() || header.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then(|| format!("{header:?} is not a header name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::properties::testing;

    fn read(properties: Value) -> Result<BucketCorsProperties, InvalidProperties> {
        testing::read(properties)
    }

    fn problems(properties: Value) -> Vec<String> {
        testing::problems::<BucketCorsProperties>(properties)
    }

    #[test]
    fn the_kolena_preset_is_kolenas_guide_rule_and_explicit_rules_follow_it() {
        let properties = read(json!({
            "Bucket": "share-with-kolena", "Vendor": "kolena",
            "Rules": [{"AllowedOrigins": "https://staging.kolena.io", "AllowedMethods": ["get", "HEAD"],
                       "MaxAgeSeconds": "3000"}]
        }))
        .expect("valid");
        let owned = properties.owned("vendor-access-0123456789abcdef-");
        assert_eq!(
            owned.entries,
            [
                json!({"ID": "vendor-access-0123456789abcdef-1", "AllowedHeaders": ["*"],
                       "AllowedMethods": ["GET"], "AllowedOrigins": ["https://app.kolena.io"]}),
                json!({"ID": "vendor-access-0123456789abcdef-2", "AllowedMethods": ["GET", "HEAD"],
                       "AllowedOrigins": ["https://staging.kolena.io"], "MaxAgeSeconds": 3000}),
            ]
        );
    }

    #[test]
    fn every_bad_rule_field_is_named_with_its_path() {
        let found = problems(json!({
            "Bucket": "b-1",
            "Rules": [
                {"AllowedOrigins": ["https://*.*.example.com", "https://app.kolena.io/", "app.kolena.io"],
                 "AllowedMethods": ["PATCH"], "AllowedHeaders": ["x-*-*"], "MaxAgeSeconds": -1},
                {"AllowedMethods": ["GET"], "AllowedOrign": ["*"]}
            ]
        }));
        let expected = [
            "Rules[0].AllowedOrigins[0]: may contain at most one * wildcard",
            "Rules[0].AllowedOrigins[1]: \"https://app.kolena.io/\" has a path",
            "Rules[0].AllowedOrigins[2]: \"app.kolena.io\" is not an origin",
            "Rules[0].AllowedMethods[0]: must be one of GET, PUT, POST, DELETE, HEAD, got \"PATCH\"",
            "Rules[0].AllowedHeaders[0]: may contain at most one * wildcard",
            "Rules[0].MaxAgeSeconds: must be between 0 and",
            "Rules[1].AllowedOrigins: is required",
            "Rules[1].AllowedOrign: unknown property; did you mean AllowedOrigins?",
        ];
        for prefix in expected {
            assert!(
                found.iter().any(|p| p.starts_with(prefix)),
                "{prefix:?} not in {found:#?}"
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");
    }

    #[test]
    fn each_vendors_rule_is_the_one_its_guide_gives() {
        let rule = |vendor: &str| {
            let properties = read(json!({"Bucket": "b-1", "Vendor": vendor})).expect("valid");
            properties.owned("p-").entries
        };
        assert_eq!(
            rule("wandb"),
            [
                json!({"ID": "p-1", "AllowedHeaders": ["*"], "AllowedMethods": ["GET", "HEAD", "PUT"],
                    "AllowedOrigins": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000})
            ]
        );
        assert_eq!(
            rule("segments-ai"),
            [
                json!({"ID": "p-1", "AllowedHeaders": ["*"], "AllowedMethods": ["GET"],
                    "AllowedOrigins": ["https://segments.ai", "https://api.segments.ai"]})
            ]
        );
        assert_eq!(
            rule("activeloop"),
            [
                json!({"ID": "p-1", "AllowedHeaders": ["*"], "AllowedMethods": ["GET", "HEAD"],
                    "AllowedOrigins": ["https://*.activeloop.ai"]})
            ]
        );
        assert_eq!(
            rule("kolena"),
            [
                json!({"ID": "p-1", "AllowedHeaders": ["*"], "AllowedMethods": ["GET"],
                    "AllowedOrigins": ["https://app.kolena.io"]})
            ]
        );
    }

    #[test]
    fn rules_or_a_vendor_are_required_and_101_rules_are_refused_up_front() {
        assert_eq!(
            problems(json!({"Bucket": "b-1"})),
            ["Rules: is required unless Vendor is set"]
        );
        let rule = json!({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]});
        let found =
            problems(json!({"Bucket": "b-1", "Vendor": "kolena", "Rules": vec![rule; 100]}));
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("Rules: 101 rules"), "{found:?}");
        assert!(problems(json!({"Bucket": "b-1", "Vendor": "acme"}))[0].starts_with("Vendor:"));
    }
}
