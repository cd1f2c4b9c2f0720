//! Every role preset of the vendor catalog against moto: the exact trust and permission
//! documents each produces, written from the vendor's guide (docs/research/vendor-guides.md),
//! not from the code's output.

mod support;

use serde_json::{Value, json};
use support::cfn::{Cfn, assert_success, reason};
use support::{clients, data, new_bucket};
use vendor_access::policy::decode_document;

const TYPE: &str = "Custom::VendorS3Access";
/// A principal the vendor shows each customer (an account the tests' deployer allows).
const SHOWN_PRINCIPAL: &str = "arn:aws:iam::111122223333:role/vendor-shown-principal";
const VENDOR_EXTERNAL_ID: &str = "issued-by-the-vendor-0001";

/// What a vendor's guide asks of the role.
struct Guide {
    preset: &'static str,
    /// The principal the trust names, as IAM stores it.
    principal: &'static str,
    /// Whether the vendor issues an external id that the trust must require.
    external_id: bool,
    session: i32,
    /// (Sid, object actions) of the statement on the customer's bucket.
    objects: (&'static str, &'static [&'static str]),
}

const READ: (&str, &[&str]) = ("ReadObjects", &["s3:GetObject"]);
const READ_WRITE: (&str, &[&str]) = ("ReadWriteObjects", &["s3:GetObject", "s3:PutObject"]);
const READ_WRITE_DELETE: (&str, &[&str]) = (
    "ReadWriteDeleteObjects",
    &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
);

/// Segment writes each file with an ACL: `s3:PutObject` and `s3:PutObjectAcl`.
const SEGMENT_WRITES: (&str, &[&str]) = (
    "ReadWriteObjects",
    &["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl"],
);

const GUIDES: &[Guide] = &[
    // "specify the AWS Account ID of Lightly: 916419735646"; 12-hour sessions.
    Guide {
        preset: "lightly",
        principal: "arn:aws:iam::916419735646:root",
        external_id: true,
        session: 43_200,
        objects: READ_WRITE_DELETE,
    },
    Guide {
        preset: "activeloop",
        principal: "arn:aws:iam::597713067985:role/activeloop_backend",
        external_id: false,
        session: 3600,
        objects: READ_WRITE_DELETE,
    },
    // "Provide Census's AWS Account ID: 341876425553"; Census generates the external id.
    Guide {
        preset: "census",
        principal: "arn:aws:iam::341876425553:root",
        external_id: true,
        session: 3600,
        objects: READ,
    },
    // Input: the Bitmovin user reads objects; the external id is optional.
    Guide {
        preset: "bitmovin",
        principal: "arn:aws:iam::630681592166:user/bitmovinCustomerS3Access",
        external_id: false,
        session: 3600,
        objects: READ,
    },
    // FastLabel's account 595343846762, with the external id from the FastLabel workspace.
    Guide {
        preset: "fastlabel",
        principal: "arn:aws:iam::595343846762:root",
        external_id: true,
        session: 3600,
        objects: READ,
    },
    // Axinom Encoding reads sources and writes outputs; the external id is the tenant name.
    Guide {
        preset: "axinom-eu",
        principal: "arn:aws:iam::201119604013:root",
        external_id: true,
        session: 3600,
        objects: READ_WRITE,
    },
    Guide {
        preset: "axinom-us",
        principal: "arn:aws:iam::358917058612:root",
        external_id: true,
        session: 3600,
        objects: READ_WRITE,
    },
    // Segment's role, with the workspace id as external id; writes under segment-logs/.
    Guide {
        preset: "segment",
        principal: "arn:aws:iam::595280932656:role/segment-s3-integration-production-access",
        external_id: true,
        session: 3600,
        objects: SEGMENT_WRITES,
    },
    // The IAM user and external id from DESC INTEGRATION; load, unload and purge.
    Guide {
        preset: "snowflake",
        principal: SHOWN_PRINCIPAL,
        external_id: true,
        session: 3600,
        objects: READ_WRITE_DELETE,
    },
    Guide {
        preset: "labelbox",
        principal: SHOWN_PRINCIPAL,
        external_id: true,
        session: 3600,
        objects: READ,
    },
    Guide {
        preset: "roboflow",
        principal: SHOWN_PRINCIPAL,
        external_id: true,
        session: 3600,
        objects: READ,
    },
    Guide {
        preset: "dataloop",
        principal: SHOWN_PRINCIPAL,
        external_id: false,
        session: 3600,
        objects: READ_WRITE_DELETE,
    },
];

fn trust(guide: &Guide) -> Value {
    let mut statement = json!({"Sid": "TrustVendor", "Effect": "Allow",
        "Principal": {"AWS": guide.principal}, "Action": "sts:AssumeRole"});
    if guide.external_id {
        statement["Condition"] = json!({"StringEquals": {"sts:ExternalId": VENDOR_EXTERNAL_ID}});
    }
    json!({"Version": "2012-10-17", "Statement": [statement]})
}

fn policy(guide: &Guide, bucket: &str) -> Value {
    let (sid, actions) = guide.objects;
    // IAM's "a string or a list": one action is written as a string.
    let actions = match actions {
        [one] => json!(one),
        many => json!(many),
    };
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "ListBucket1", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": format!("arn:aws:s3:::{bucket}")},
        {"Sid": "BucketLocation", "Effect": "Allow", "Action": "s3:GetBucketLocation",
         "Resource": format!("arn:aws:s3:::{bucket}")},
        {"Sid": sid, "Effect": "Allow", "Action": actions,
         "Resource": format!("arn:aws:s3:::{bucket}/*")}
    ]})
}

#[tokio::test]
async fn every_role_preset_writes_the_documents_of_its_guide() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "presets").await;
    let cfn = Cfn::new().await;
    for guide in GUIDES {
        let mut props = json!({"Vendor": guide.preset, "Locations": [{"Bucket": bucket}]});
        if guide.principal == SHOWN_PRINCIPAL {
            props["TrustedPrincipal"] = json!(SHOWN_PRINCIPAL);
        }
        if guide.external_id {
            props["ExternalId"] = json!(VENDOR_EXTERNAL_ID);
        }
        let response = cfn
            .create(
                TYPE,
                &format!("{}Role", guide.preset.replace('-', "")),
                props,
            )
            .await;
        assert_success(&response);
        let role = clients
            .iam
            .get_role()
            .role_name(data(&response, "RoleName"))
            .send()
            .await
            .expect("the role exists")
            .role
            .expect("a role");
        let written = role.assume_role_policy_document().and_then(decode_document);
        assert_eq!(written, Some(trust(guide)), "{}", guide.preset);
        assert_eq!(
            role.max_session_duration(),
            Some(guide.session),
            "{}",
            guide.preset
        );
        let inline = clients
            .iam
            .get_role_policy()
            .role_name(role.role_name())
            .policy_name("vendor-access-s3")
            .send()
            .await
            .expect("the policy exists");
        assert_eq!(
            decode_document(inline.policy_document()),
            Some(policy(guide, &bucket)),
            "{}",
            guide.preset
        );
    }
}

#[tokio::test]
async fn an_external_id_the_vendor_issues_cannot_be_omitted_or_made_up() {
    let cfn = Cfn::new().await;
    for (preset, title) in [
        ("census", "Census"),
        ("fastlabel", "FastLabel"),
        ("labelbox", "Labelbox"),
    ] {
        let mut props = json!({"Vendor": preset, "Locations": [{"Bucket": "presets-bucket"}]});
        if preset == "labelbox" {
            props["TrustedPrincipal"] = json!(SHOWN_PRINCIPAL);
        }
        let response = cfn.create(TYPE, "Role", props).await;
        assert_eq!(response["Status"], "FAILED", "{response}");
        assert!(
            reason(&response).contains(&format!("ExternalId: is required: {title}")),
            "{response}"
        );
    }
}

#[tokio::test]
async fn a_bucket_policy_vendor_is_no_role_preset() {
    let cfn = Cfn::new().await;
    let response = cfn
        .create(
            TYPE,
            "Role",
            json!({"Vendor": "wandb", "Locations": [{"Bucket": "presets-bucket"}]}),
        )
        .await;
    assert!(
        reason(&response).contains("Vendor: must be one of"),
        "{response}"
    );
}

/// The trust of a role as IAM has it.
async fn trust_of(clients: &vendor_access::aws::Clients, name: &str) -> Value {
    let role = clients
        .iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .expect("the role exists")
        .role
        .expect("a role");
    role.assume_role_policy_document()
        .and_then(decode_document)
        .unwrap_or(Value::Null)
}

const DATABRICKS: &str =
    "arn:aws:iam::414351767826:role/unity-catalog-prod-UCMasterRole-14S5ZJVKOTYTL";

fn trusts_itself(role_arn: &str, external_id: Option<&str>) -> Value {
    let mut statement = json!({"Sid": "TrustItself", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:root", support::ACCOUNT)},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnLike": {"aws:PrincipalArn": role_arn}}});
    if let Some(id) = external_id {
        statement["Condition"]["StringEquals"] = json!({"sts:ExternalId": id});
    }
    statement
}

#[tokio::test]
async fn a_databricks_role_trusts_unity_catalog_and_itself_from_one_create() {
    let clients = clients().await;
    let bucket = new_bucket(&clients, "unity").await;
    let cfn = Cfn::new().await;
    let response = cfn
        .create(
            TYPE,
            "Storage",
            json!({"Vendor": "databricks", "ExternalId": "0a1b2c3d-databricks-account",
                   "Locations": [{"Bucket": bucket}]}),
        )
        .await;
    assert_success(&response);
    let arn = data(&response, "RoleArn");
    assert_eq!(
        trust_of(&clients, &data(&response, "RoleName")).await,
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "TrustVendor", "Effect": "Allow", "Principal": {"AWS": DATABRICKS},
             "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"sts:ExternalId": "0a1b2c3d-databricks-account"}}},
            trusts_itself(&arn, Some("0a1b2c3d-databricks-account"))
        ]})
    );
}

#[tokio::test]
async fn a_two_step_role_trusts_only_itself_until_the_vendors_values_arrive() {
    // GIVEN a Snowflake storage integration not created yet: no principal, no external id
    let clients = clients().await;
    let bucket = new_bucket(&clients, "stage").await;
    let cfn = Cfn::new().await;
    let first = json!({"Vendor": "snowflake", "Locations": [{"Bucket": bucket}]});
    // WHEN the role is created (the first deploy)
    let created = cfn.create(TYPE, "Stage", first.clone()).await;
    assert_success(&created);
    let (arn, name) = (data(&created, "RoleArn"), data(&created, "RoleName"));
    // THEN it trusts nothing but itself, and says what it waits for
    assert_eq!(
        trust_of(&clients, &name).await,
        json!({"Version": "2012-10-17", "Statement": [trusts_itself(&arn, None)]})
    );
    assert!(
        data(&created, "Warnings").contains("waiting for Snowflake"),
        "{created}"
    );
    // WHEN the second deploy gives DESC INTEGRATION's user and external id
    let user = "arn:aws:iam::111122223333:user/abc1-s-v2st0000";
    let second = json!({"Vendor": "snowflake", "TrustedPrincipal": user,
                        "ExternalId": "MYACCOUNT_SFCRole=2_abc=", "Locations": [{"Bucket": bucket}]});
    let updated = cfn.update(TYPE, "Stage", &arn, second, first).await;
    // THEN the same role trusts Snowflake's user with its external id
    assert_success(&updated);
    assert_eq!(updated["PhysicalResourceId"], arn.as_str());
    assert_eq!(
        trust_of(&clients, &name).await,
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "TrustVendor", "Effect": "Allow", "Principal": {"AWS": user},
             "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"sts:ExternalId": "MYACCOUNT_SFCRole=2_abc="}}}
        ]})
    );
    assert_eq!(data(&updated, "Warnings"), "");
}

#[tokio::test]
async fn scales_role_has_the_name_scale_requires_at_the_root_path_where_the_deployer_allows_it() {
    // GIVEN a deployer who allows the role Scale requires at "/"
    let clients = clients().await;
    let bucket = new_bucket(&clients, "scale").await;
    let mut settings = support::settings();
    settings.guardrails.root_role_names = vec!["ScaleAI-Integration".into()];
    let cfn = Cfn::with_registry(vendor_access::resources::registry(&clients, &settings));
    let props = json!({"Vendor": "scale", "ExternalId": VENDOR_EXTERNAL_ID,
                       "Locations": [{"Bucket": bucket}]});
    // WHEN the preset is created
    let created = cfn.create(TYPE, "Scale", props.clone()).await;
    // THEN Scale's account may assume arn:aws:iam::ACCOUNT:role/ScaleAI-Integration
    assert_success(&created);
    let arn = data(&created, "RoleArn");
    assert_eq!(
        arn,
        format!("arn:aws:iam::{}:role/ScaleAI-Integration", support::ACCOUNT)
    );
    let guide = Guide {
        preset: "scale",
        principal: "arn:aws:iam::307185671274:root",
        external_id: true,
        session: 3600,
        objects: READ,
    };
    assert_eq!(
        trust_of(&clients, "ScaleAI-Integration").await,
        trust(&guide)
    );
    // AND a Delete removes it
    assert_success(&cfn.delete(TYPE, "Scale", &arn, props).await);
    assert!(
        clients
            .iam
            .get_role()
            .role_name("ScaleAI-Integration")
            .send()
            .await
            .is_err()
    );
}
