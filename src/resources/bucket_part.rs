//! A resource type that owns part of one bucket's policy or CORS configuration.
//!
//! Such types behave alike towards CloudFormation: create and update merge the owned entries
//! into the bucket's document (a new `Bucket` yields a new physical id: replacement), delete
//! takes them out again, and the physical id is `<bucket>/<kind>/<owner-hash>`. They differ
//! only in what their entries are and which document holds them: that is a [`BucketPart`].

use super::bucket_document::{BucketDocument, OwnedEntries, put_owned, remove_owned};
use crate::cfn::{Failure, Invocation, Outcome, Resource};
use crate::properties::{Fields, FromProperties};

/// What one resource type owns in one kind of bucket document.
pub trait BucketPart: Send + Sync + 'static {
    /// The `ResourceType` it answers, e.g. `Custom::BucketCors`.
    const RESOURCE_TYPE: &'static str;
    /// The middle of its physical ids: `cors`, `policy`.
    const KIND: &'static str;
    /// The output that lists the ids of its entries, comma-joined.
    const IDS_OUTPUT: &'static str;
    type Properties: FromProperties + Send + Sync;
    type Document<'a>: BucketDocument + Send
    where
        Self: 'a;

    fn bucket(properties: &Self::Properties) -> &str;
    /// What the ids of the owner's entries start with.
    fn id_prefix(owner_hash: &str) -> String;
    /// The entries the properties ask for, named with [`Self::id_prefix`].
    fn owned(properties: &Self::Properties, invocation: &Invocation) -> OwnedEntries;
    /// The document of `bucket` these entries go into.
    fn document<'a>(&'a self, bucket: &'a str, invocation: &'a Invocation) -> Self::Document<'a>;
}

/// A [`BucketPart`] as CloudFormation drives it.
pub struct MergedIntoBucket<P>(pub P);

impl<P: BucketPart> MergedIntoBucket<P> {
    async fn put(
        &self,
        invocation: &Invocation,
        properties: P::Properties,
    ) -> Result<Outcome, Failure> {
        let bucket = P::bucket(&properties);
        let owned = P::owned(&properties, invocation);
        let document = self.0.document(bucket, invocation);
        put_owned(&document, &owned)
            .await
            .map_err(Failure::resource)?;
        let ids = owned.ids(&<P::Document<'_> as BucketDocument>::SHAPE);
        tracing::info!(bucket, ids = ?ids, "entries in place");
        let id = physical_id(bucket, P::KIND, &invocation.owner().hash());
        Ok(Outcome::new(id).with(P::IDS_OUTPUT, ids.join(",")))
    }
}

impl<P: BucketPart> Resource for MergedIntoBucket<P> {
    const TYPE: &'static str = P::RESOURCE_TYPE;
    type Properties = P::Properties;

    fn recognizes(&self, physical_id: &str) -> bool {
        parse_physical_id(physical_id, P::KIND).is_some()
    }

    async fn create(
        &self,
        invocation: &Invocation,
        properties: P::Properties,
    ) -> Result<Outcome, Failure> {
        self.put(invocation, properties).await
    }

    /// The same merge as a create; a changed `Bucket` gives a new physical id, so
    /// CloudFormation then deletes the entries from the old bucket.
    async fn update(
        &self,
        invocation: &Invocation,
        _physical_id: &str,
        properties: P::Properties,
        _old: Option<P::Properties>,
    ) -> Result<Outcome, Failure> {
        self.put(invocation, properties).await
    }

    /// Takes the entries out of the bucket the physical id names, whatever the properties
    /// say now.
    async fn delete(
        &self,
        invocation: &Invocation,
        physical_id: &str,
        _properties: Option<P::Properties>,
    ) -> Result<(), Failure> {
        let Some((bucket, hash)) = parse_physical_id(physical_id, P::KIND) else {
            return Ok(());
        };
        if hash != invocation.owner().hash() {
            tracing::warn!(
                physical_id,
                "the physical id names another owner; nothing to remove"
            );
            return Ok(());
        }
        let document = self.0.document(bucket, invocation);
        remove_owned(&document, &P::id_prefix(hash))
            .await
            .map_err(Failure::resource)
    }
}

/// The physical id of a resource owning part of one bucket document:
/// `<bucket>/<kind>/<owner-hash>`.
pub fn physical_id(bucket: &str, kind: &str, owner_hash: &str) -> String {
    format!("{bucket}/{kind}/{owner_hash}")
}

/// The bucket and owner hash of a physical id [`physical_id`] made for `kind`.
pub fn parse_physical_id<'a>(id: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let (rest, hash) = id.rsplit_once('/')?;
    let (bucket, found_kind) = rest.rsplit_once('/')?;
    let is_hash = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (found_kind == kind && is_hash && bucket_name_problem(bucket).is_none())
        .then_some((bucket, hash))
}

/// The AWS partition of a stack (`aws`, `aws-cn`, `aws-us-gov`), for ARNs in its region.
pub fn partition_of(stack_id: &str) -> &str {
    stack_id
        .split(':')
        .nth(1)
        .filter(|p| p.starts_with("aws"))
        .unwrap_or("aws")
}

/// Reads the required `Bucket` property.
pub fn read_bucket(fields: &mut Fields<'_>) -> Option<String> {
    let bucket = fields.string("Bucket");
    let bucket = fields.required("Bucket", bucket)?;
    match bucket_name_problem(&bucket) {
        Some(problem) => {
            fields.problem("Bucket", problem);
            None
        }
        None => Some(bucket),
    }
}

/// What is wrong with a bucket name, if anything. Names from before March 2018 in
/// us-east-1 may have capitals and underscores and 255 characters, so those are allowed.
fn bucket_name_problem(name: &str) -> Option<String> {
    if name.starts_with("arn:") || name.starts_with("s3://") {
        return Some(format!(
            "must be the bucket's name, not {name:?} (e.g. my-bucket, not arn:aws:s3:::my-bucket)"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if !(3..=255).contains(&name.len()) || !name.chars().all(allowed) {
        return Some(format!(
            "{name:?} is not a bucket name (3-63 lowercase letters, digits, dots and hyphens)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_ids_round_trip_and_others_are_not_recognised() {
        let id = physical_id("my-bucket", "cors", "0123456789abcdef");
        assert_eq!(id, "my-bucket/cors/0123456789abcdef");
        assert_eq!(
            parse_physical_id(&id, "cors"),
            Some(("my-bucket", "0123456789abcdef"))
        );
        assert_eq!(parse_physical_id(&id, "policy"), None);
        assert_eq!(parse_physical_id("stack-Cors-1A2B3C4D5E6F", "cors"), None);
        assert_eq!(parse_physical_id("a/b/cors/0123456789abcdef", "cors"), None);
    }

    #[test]
    fn the_partition_comes_from_the_stack() {
        assert_eq!(
            partition_of("arn:aws-cn:cloudformation:cn-north-1:1:stack/s/1"),
            "aws-cn"
        );
        assert_eq!(
            partition_of("arn:aws:cloudformation:us-east-1:1:stack/s/1"),
            "aws"
        );
        assert_eq!(partition_of("not an arn"), "aws");
    }

    #[test]
    fn bucket_arns_and_urls_are_refused_with_a_hint() {
        assert!(
            bucket_name_problem("arn:aws:s3:::data")
                .unwrap()
                .contains("not arn:")
        );
        assert!(bucket_name_problem("s3://data").is_some());
        assert!(bucket_name_problem("a/b").is_some());
        assert!(bucket_name_problem("ab").is_some());
        assert_eq!(bucket_name_problem("Legacy_Bucket.2017"), None);
    }
}
