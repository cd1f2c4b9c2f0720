//! Bucket documents in S3: a bucket's policy and its CORS configuration, read and written
//! whole, and the lifecycle of a resource type that owns part of one.
//!
//! S3 replaces these documents whole, so every change is a merge ([`crate::policy::merge`]):
//! read the document, put the owner's entries in place, write, read back, and merge again
//! (bounded) if another writer replaced the document in between. With a lock bucket, each
//! merge runs in a turn on its document ([`super::turns`]), so this function's own writers
//! never race; a principal S3 does not accept yet is waited for between turns.

use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use serde_json::{Map, Value, json};

use super::CallError;
use super::Clients;
use super::propagation::{Backoff, Retried, is_unpropagated_principal, retry_while_rejected};
use super::turns::{Document, InTurn, TurnError, Turns};
use crate::cfn::properties::{FromProperties, Problem};
use crate::cfn::{Facet, Failure, Invocation, Outcome, Resource, View};
use crate::guardrails::Guardrails;
use crate::policy::merge::{
    BUCKET_POLICY, CORS_CONFIGURATION, OwnedEntries, Shape, entries_of, merge,
};
use crate::rules;
use crate::settings::Settings;

/// S3 refuses a bucket policy larger than this (20 KB).
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// S3 refuses a CORS configuration with more rules than this.
pub const MAX_CORS_RULES: usize = 100;

/// Why a bucket document could not be brought to what the resource wants.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("bucket {bucket:?} does not exist; check the Bucket property")]
    NoSuchBucket { bucket: String },
    #[error("could not read the {document} of bucket {bucket:?}: {reason}")]
    Read {
        document: &'static str,
        bucket: String,
        reason: String,
    },
    #[error("could not write the {document} of bucket {bucket:?}: {reason}")]
    Write {
        document: &'static str,
        bucket: String,
        reason: String,
    },
    #[error("the {document} of bucket {bucket:?} cannot be merged, so it was left alone: {reason}")]
    Unmergeable {
        document: &'static str,
        bucket: String,
        reason: String,
    },
    #[error("nothing was written to bucket {bucket:?}: {reason}")]
    OverLimit { bucket: String, reason: String },
    /// S3 does not accept a principal named in the document yet; waited for outside the
    /// turn ([`BucketAccess::put_in_turn`]).
    #[error("could not write the {document} of bucket {bucket:?}: {error}")]
    Unpropagated {
        document: &'static str,
        bucket: String,
        error: CallError,
    },
    #[error(transparent)]
    Turn(#[from] TurnError),
    #[error(
        "the {document} of bucket {bucket:?} still lacks this resource's entries after \
         {rounds} writes; something else keeps replacing it"
    )]
    NotInPlace {
        document: &'static str,
        bucket: String,
        rounds: usize,
    },
}

/// A bucket's policy or CORS configuration, read and written whole.
pub trait BucketDocument: Sync {
    const SHAPE: Shape;

    fn bucket(&self) -> &str;

    /// What its writers take turns on.
    fn turn(&self) -> Document;

    /// The document as JSON; `None` when the bucket has none.
    fn read(&self) -> impl Future<Output = Result<Option<Value>, DocumentError>> + Send;

    /// Writes `document`, or deletes the bucket's document when `None`.
    fn write(
        &self,
        document: Option<&Value>,
    ) -> impl Future<Output = Result<(), DocumentError>> + Send;

    /// Why S3 would refuse `document` for its size, if it would.
    fn over_limit(document: &Value) -> Option<String>;

    /// A failed S3 call as a [`DocumentError`], told apart by its error code.
    fn failure(&self, error: CallError, writing: bool) -> DocumentError {
        let bucket = self.bucket().to_string();
        if error.is("NoSuchBucket") {
            return DocumentError::NoSuchBucket { bucket };
        }
        let document = Self::SHAPE.name;
        let reason = error.described;
        if writing {
            DocumentError::Write {
                document,
                bucket,
                reason,
            }
        } else {
            DocumentError::Read {
                document,
                bucket,
                reason,
            }
        }
    }
}

/// How hard to try before giving up on getting the owner's entries in place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rounds {
    /// Writes after which the entries may still be missing. Another writer replacing the
    /// whole document between our read and write is the reason to write again; one that
    /// keeps doing it is a fight this function should not keep up.
    pub max_writes: usize,
    /// S3 bucket configuration is eventually consistent: a read right after a write may
    /// still show the old document. Before merging again, wait this long times the round.
    pub pause: Duration,
}

impl Default for Rounds {
    fn default() -> Self {
        Rounds::S3
    }
}

impl Rounds {
    pub const S3: Rounds = Rounds {
        max_writes: 3,
        pause: Duration::from_secs(2),
    };

    /// Brings `document` to hold exactly `owned` of its owner's entries, keeping everything
    /// else. Limits are checked before every write; nothing is written past them.
    pub async fn put_owned<D: BucketDocument>(
        &self,
        document: &D,
        owned: &OwnedEntries,
    ) -> Result<(), DocumentError> {
        let shape = D::SHAPE;
        let bucket = || document.bucket().to_string();
        let mut current = document.read().await?;
        for round in 1..=self.max_writes {
            let merged = merge(&shape, current.as_ref(), owned).map_err(|reason| {
                DocumentError::Unmergeable {
                    document: shape.name,
                    bucket: bucket(),
                    reason,
                }
            })?;
            if merged == current {
                return Ok(());
            }
            if let Some(reason) = merged.as_ref().and_then(D::over_limit) {
                return Err(DocumentError::OverLimit {
                    bucket: bucket(),
                    reason,
                });
            }
            document.write(merged.as_ref()).await?;
            current = document.read().await?;
            if owned.in_place(&shape, current.as_ref()) {
                return Ok(());
            }
            tracing::warn!(
                bucket = document.bucket(),
                document = shape.name,
                round,
                "this resource's entries are missing after writing"
            );
            if round < self.max_writes {
                tokio::time::sleep(self.pause * round as u32).await;
                current = document.read().await?;
            }
        }
        Err(DocumentError::NotInPlace {
            document: shape.name,
            bucket: bucket(),
            rounds: self.max_writes,
        })
    }
}

/// One bucket's policy, as a document to merge into.
pub struct PolicyOf<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
}

impl PolicyOf<'_> {
    /// One PutBucketPolicy. A principal too new for S3 to accept is reported, not waited
    /// for here: the wait happens outside the turn.
    async fn put(&self, policy: &str) -> Result<(), DocumentError> {
        let put = self
            .s3
            .put_bucket_policy()
            .bucket(self.bucket)
            .policy(policy)
            .send()
            .await;
        match put.map_err(CallError::of) {
            Ok(_) => Ok(()),
            Err(error) if is_unpropagated_principal(&error) => Err(DocumentError::Unpropagated {
                document: Self::SHAPE.name,
                bucket: self.bucket.to_string(),
                error,
            }),
            Err(error) => Err(self.failure(error, true)),
        }
    }
}

impl BucketDocument for PolicyOf<'_> {
    const SHAPE: Shape = BUCKET_POLICY;

    fn bucket(&self) -> &str {
        self.bucket
    }

    fn turn(&self) -> Document {
        Document::BucketPolicy(self.bucket.to_string())
    }

    async fn read(&self) -> Result<Option<Value>, DocumentError> {
        let output = match self.s3.get_bucket_policy().bucket(self.bucket).send().await {
            Ok(output) => output,
            Err(error) if error.code() == Some("NoSuchBucketPolicy") => {
                return Ok(None);
            }
            Err(error) => return Err(self.failure(CallError::of(error), false)),
        };
        let Some(text) = output.policy().filter(|text| !text.trim().is_empty()) else {
            return Ok(None);
        };
        serde_json::from_str(text)
            .map(Some)
            .map_err(|error| DocumentError::Unmergeable {
                document: Self::SHAPE.name,
                bucket: self.bucket.to_string(),
                reason: format!("it is not JSON ({error})"),
            })
    }

    async fn write(&self, document: Option<&Value>) -> Result<(), DocumentError> {
        match document {
            Some(policy) => self.put(&policy.to_string()).await,
            None => match self
                .s3
                .delete_bucket_policy()
                .bucket(self.bucket)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => Err(self.failure(CallError::of(error), true)),
            },
        }
    }

    fn over_limit(document: &Value) -> Option<String> {
        let size = document.to_string().len();
        (size > MAX_POLICY_BYTES).then(|| {
            format!(
                "the merged bucket policy would be {size} bytes; S3 allows at most \
                 {MAX_POLICY_BYTES}"
            )
        })
    }
}

/// One bucket's CORS configuration, as a document to merge into.
pub struct CorsOf<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
}

impl BucketDocument for CorsOf<'_> {
    const SHAPE: Shape = CORS_CONFIGURATION;

    fn bucket(&self) -> &str {
        self.bucket
    }

    fn turn(&self) -> Document {
        Document::BucketCors(self.bucket.to_string())
    }

    async fn read(&self) -> Result<Option<Value>, DocumentError> {
        match self.s3.get_bucket_cors().bucket(self.bucket).send().await {
            Ok(output) => {
                let rules: Vec<Value> = output.cors_rules().iter().map(rule_to_json).collect();
                Ok((!rules.is_empty()).then(|| json!({ "CORSRules": rules })))
            }
            Err(error) if error.code() == Some("NoSuchCORSConfiguration") => Ok(None),
            Err(error) => Err(self.failure(CallError::of(error), false)),
        }
    }

    async fn write(&self, document: Option<&Value>) -> Result<(), DocumentError> {
        let Some(document) = document else {
            return match self
                .s3
                .delete_bucket_cors()
                .bucket(self.bucket)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => Err(self.failure(CallError::of(error), true)),
            };
        };
        let configuration =
            configuration_from_json(document).map_err(|reason| DocumentError::Unmergeable {
                document: Self::SHAPE.name,
                bucket: self.bucket.to_string(),
                reason,
            })?;
        match self
            .s3
            .put_bucket_cors()
            .bucket(self.bucket)
            .cors_configuration(configuration)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => Err(self.failure(CallError::of(error), true)),
        }
    }

    fn over_limit(document: &Value) -> Option<String> {
        let count = document["CORSRules"].as_array().map_or(0, Vec::len);
        (count > MAX_CORS_RULES).then(|| {
            format!(
                "the CORS configuration would have {count} rules; S3 allows at most {MAX_CORS_RULES}"
            )
        })
    }
}

/// A rule as JSON with S3's field names; absent and empty lists are left out alike.
fn rule_to_json(rule: &CorsRule) -> Value {
    let mut json = Map::new();
    if let Some(id) = rule.id() {
        json.insert("ID".into(), json!(id));
    }
    let lists = [
        ("AllowedHeaders", rule.allowed_headers()),
        ("AllowedMethods", rule.allowed_methods()),
        ("AllowedOrigins", rule.allowed_origins()),
        ("ExposeHeaders", rule.expose_headers()),
    ];
    for (name, items) in lists {
        if !items.is_empty() {
            json.insert(name.into(), json!(items));
        }
    }
    if let Some(seconds) = rule.max_age_seconds() {
        json.insert("MaxAgeSeconds".into(), json!(seconds));
    }
    Value::Object(json)
}

fn configuration_from_json(document: &Value) -> Result<CorsConfiguration, String> {
    let rules = document["CORSRules"]
        .as_array()
        .ok_or("CORSRules is not a list")?
        .iter()
        .map(rule_from_json)
        .collect::<Result<Vec<_>, _>>()?;
    CorsConfiguration::builder()
        .set_cors_rules(Some(rules))
        .build()
        .map_err(|e| e.to_string())
}

fn rule_from_json(rule: &Value) -> Result<CorsRule, String> {
    let list = |name: &str| -> Result<Option<Vec<String>>, String> {
        match rule.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{name} holds a value that is not a string"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("{name} is not a list")),
        }
    };
    let max_age = match rule.get("MaxAgeSeconds") {
        None => None,
        Some(value) => Some(
            value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or("MaxAgeSeconds is not a number S3 accepts")?,
        ),
    };
    CorsRule::builder()
        .set_id(rule.get("ID").and_then(Value::as_str).map(str::to_string))
        .set_allowed_headers(list("AllowedHeaders")?)
        .set_allowed_methods(list("AllowedMethods")?)
        .set_allowed_origins(list("AllowedOrigins")?)
        .set_expose_headers(list("ExposeHeaders")?)
        .set_max_age_seconds(max_age)
        .build()
        .map_err(|e| e.to_string())
}

/// What every resource type owning part of a bucket document works with.
#[derive(Debug, Clone)]
pub struct BucketAccess {
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    /// How often to merge again when the entries are missing after a write.
    pub rounds: Rounds,
    /// A principal named in a statement may be too new for S3 to accept yet.
    pub propagation: Backoff,
    /// What the deployer allows.
    pub guardrails: Guardrails,
    /// Writers of one document take turns (with a lock bucket).
    pub turns: Turns,
}

impl BucketAccess {
    pub fn new(clients: &Clients, settings: &Settings) -> Self {
        BucketAccess {
            s3: clients.s3.clone(),
            kms: clients.kms.clone(),
            rounds: settings.waits.document_rounds,
            propagation: settings.waits.propagation,
            guardrails: settings.guardrails.clone(),
            turns: Turns::configured(&clients.s3, settings),
        }
    }

    /// Brings `document` to hold exactly `owned` ([`Rounds::put_owned`]) in a turn on it.
    /// When S3 does not accept a principal yet, the turn is given back, the principal
    /// waited for (at most the propagation window, never past the work deadline), and the
    /// merge done again in a new turn: the wait never delays other writers.
    pub async fn put_in_turn<D: BucketDocument>(
        &self,
        document: &D,
        owned: &OwnedEntries,
        invocation: &Invocation,
    ) -> Result<(), DocumentError> {
        let turn = document.turn();
        let unpropagated = |failed: &InTurn<DocumentError>| match failed {
            InTurn::Work(DocumentError::Unpropagated { error, .. }) => Some(error.clone()),
            _ => None,
        };
        let merged = retry_while_rejected(
            &self.propagation,
            invocation.work_deadline,
            unpropagated,
            || {
                self.turns
                    .in_turn(&turn, invocation, self.rounds.put_owned(document, owned))
            },
        )
        .await;
        match merged {
            Ok(()) => Ok(()),
            Err(Retried::Failed(InTurn::Work(error))) => Err(error),
            Err(Retried::Failed(InTurn::Turn(error))) => Err(DocumentError::Turn(error)),
            Err(Retried::StillRejected(rejected)) => Err(DocumentError::Write {
                document: D::SHAPE.name,
                bucket: document.bucket().to_string(),
                reason: rejected.explain("a principal in Statements"),
            }),
        }
    }

    /// Removes every entry of the owner; a bucket that is gone has nothing left to remove.
    pub async fn remove_in_turn<D: BucketDocument>(
        &self,
        document: &D,
        prefix: &str,
        invocation: &Invocation,
    ) -> Result<(), DocumentError> {
        let none = OwnedEntries::none(prefix);
        match self.put_in_turn(document, &none, invocation).await {
            Err(DocumentError::NoSuchBucket { bucket }) => {
                tracing::info!(bucket, "the bucket is gone; nothing to remove");
                Ok(())
            }
            done => done,
        }
    }
}

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
    /// The client, waits and guardrails it works with.
    fn access(&self) -> &BucketAccess;
    /// What the type does besides the document once its entries are in place (`old` are
    /// the properties before an Update); returns outputs to add.
    fn after_put(
        &self,
        _invocation: &Invocation,
        _properties: &Self::Properties,
        _old: Option<&Self::Properties>,
    ) -> impl Future<Output = Result<Vec<(&'static str, String)>, Failure>> + Send {
        async { Ok(Vec::new()) }
    }
    /// What it undoes besides the document, before its entries are removed.
    fn before_remove(
        &self,
        _invocation: &Invocation,
        _bucket: &str,
        _properties: Option<&Self::Properties>,
    ) -> impl Future<Output = Result<(), Failure>> + Send {
        async { Ok(()) }
    }
    /// What the deployer does not allow in the type's own properties; the bucket is
    /// checked for every type.
    fn guard_own(&self, _invocation: &Invocation, _properties: &Self::Properties) -> Vec<Problem> {
        Vec::new()
    }
}

/// A [`BucketPart`] as CloudFormation drives it.
pub struct MergedIntoBucket<P>(pub P);

impl<P: BucketPart> MergedIntoBucket<P> {
    async fn put(
        &self,
        invocation: &Invocation,
        properties: P::Properties,
        old: Option<&P::Properties>,
    ) -> Result<Outcome, Failure> {
        let bucket = P::bucket(&properties);
        let owned = P::owned(&properties, invocation);
        let document = self.0.document(bucket, invocation);
        self.0
            .access()
            .put_in_turn(&document, &owned, invocation)
            .await
            .map_err(Failure::resource)?;
        let ids = owned.ids(&<P::Document<'_> as BucketDocument>::SHAPE);
        tracing::info!(bucket, ids = ?ids, "entries in place");
        let id = physical_id(bucket, P::KIND, &invocation.owner().hash());
        let outcome = Outcome::new(id).with(P::IDS_OUTPUT, ids.join(","));
        let extras = self.0.after_put(invocation, &properties, old).await?;
        Ok(extras
            .into_iter()
            .fold(outcome, |outcome, (key, value)| outcome.with(key, value)))
    }
}

impl<P: BucketPart> Resource for MergedIntoBucket<P> {
    const TYPE: &'static str = P::RESOURCE_TYPE;
    type Properties = P::Properties;

    fn recognizes(&self, physical_id: &str) -> bool {
        parse_physical_id(physical_id, P::KIND).is_some()
    }

    fn guard(&self, invocation: &Invocation, properties: &P::Properties) -> Vec<Problem> {
        let bucket = P::bucket(properties);
        let bucket = self
            .0
            .access()
            .guardrails
            .bucket_problem(bucket)
            .map(|problem| Problem::new("Bucket", problem));
        bucket
            .into_iter()
            .chain(self.0.guard_own(invocation, properties))
            .collect()
    }

    async fn create(
        &self,
        invocation: &Invocation,
        properties: P::Properties,
    ) -> Result<Outcome, Failure> {
        self.put(invocation, properties, None).await
    }

    /// The same merge as a create; a changed `Bucket` gives a new physical id, so
    /// CloudFormation then deletes the entries from the old bucket.
    async fn update(
        &self,
        invocation: &Invocation,
        _physical_id: &str,
        properties: P::Properties,
        old: Option<P::Properties>,
    ) -> Result<Outcome, Failure> {
        self.put(invocation, properties, old.as_ref()).await
    }

    /// Takes the entries out of the bucket the physical id names, whatever the properties
    /// say now.
    async fn delete(
        &self,
        invocation: &Invocation,
        physical_id: &str,
        properties: Option<P::Properties>,
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
        self.0
            .before_remove(invocation, bucket, properties.as_ref())
            .await?;
        let document = self.0.document(bucket, invocation);
        self.0
            .access()
            .remove_in_turn(&document, &P::id_prefix(hash), invocation)
            .await
            .map_err(Failure::resource)
    }

    /// This resource's entries; with `reading`, also the whole document after the merge.
    async fn planned(
        &self,
        invocation: &Invocation,
        properties: &P::Properties,
        reading: bool,
    ) -> Result<View, Failure> {
        let shape = <P::Document<'_> as BucketDocument>::SHAPE;
        let bucket = P::bucket(properties);
        let owned = P::owned(properties, invocation);
        let mut view = View::new(physical_id(bucket, P::KIND, &invocation.owner().hash()));
        view.facets.push(Facet::owned(
            own_entries(&shape),
            Some(Value::Array(owned.entries.clone())),
        ));
        if !reading {
            view.notes.push(format!(
                "the {}'s other entries are kept as they are; `plan --live` shows the whole {} before and after",
                shape.name, shape.name
            ));
            return Ok(view);
        }
        let document = self.0.document(bucket, invocation);
        let current = document.read().await.map_err(Failure::resource)?;
        let merged = merge(&shape, current.as_ref(), &owned).map_err(|reason| {
            Failure::resource(DocumentError::Unmergeable {
                document: shape.name,
                bucket: bucket.to_string(),
                reason,
            })
        })?;
        if let Some(reason) = merged
            .as_ref()
            .and_then(<P::Document<'_> as BucketDocument>::over_limit)
        {
            view.notes
                .push(format!("S3 would refuse the result: {reason}"));
        }
        view.facets
            .push(Facet::context(whole_document(&shape, bucket), merged));
        Ok(view)
    }

    /// The entries of the owner `physical_id` names, and the whole document around them.
    async fn current(
        &self,
        invocation: &Invocation,
        properties: &P::Properties,
        physical_id: &str,
    ) -> Result<View, Failure> {
        let shape = <P::Document<'_> as BucketDocument>::SHAPE;
        let (bucket, hash) =
            parse_physical_id(physical_id, P::KIND).unwrap_or((P::bucket(properties), ""));
        let hash = match hash {
            "" => invocation.owner().hash(),
            hash => hash.to_string(),
        };
        let document = self.0.document(bucket, invocation);
        let current = document.read().await.map_err(Failure::resource)?;
        let ours = entries_of(&shape, current.as_ref(), &P::id_prefix(&hash));
        let mut view = View::new(physical_id);
        view.facets
            .push(Facet::owned(own_entries(&shape), Some(Value::Array(ours))));
        view.facets
            .push(Facet::context(whole_document(&shape, bucket), current));
        Ok(view)
    }
}

/// The facet of a resource's own entries: `Statement (this resource's)`.
fn own_entries(shape: &Shape) -> String {
    format!("{} (this resource's)", shape.entries)
}

fn whole_document(shape: &Shape, bucket: &str) -> String {
    format!("{} of {bucket}", shape.name)
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
    (found_kind == kind && is_hash && rules::bucket_name_problem(bucket).is_none())
        .then_some((bucket, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::policy::merge::owned;

    const CORS: Shape = CORS_CONFIGURATION;

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

    /// A CORS configuration in memory, where another writer may replace the whole
    /// document with its own version right after each of our first `clobbered` writes.
    struct Contested {
        stored: std::sync::Mutex<Option<Value>>,
        theirs: Option<Value>,
        clobbered: usize,
        writes: std::sync::atomic::AtomicUsize,
    }

    impl Contested {
        fn new(theirs: Value, clobbered: usize) -> Self {
            Contested {
                stored: std::sync::Mutex::new(Some(theirs.clone())),
                theirs: Some(theirs),
                clobbered,
                writes: Default::default(),
            }
        }

        fn stored(&self) -> Option<Value> {
            self.stored.lock().expect("not poisoned").clone()
        }

        fn writes(&self) -> usize {
            self.writes.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl BucketDocument for Contested {
        const SHAPE: Shape = CORS;

        fn bucket(&self) -> &str {
            "contested"
        }

        fn turn(&self) -> Document {
            Document::BucketCors("contested".into())
        }

        async fn read(&self) -> Result<Option<Value>, DocumentError> {
            Ok(self.stored())
        }

        async fn write(&self, document: Option<&Value>) -> Result<(), DocumentError> {
            let n = self
                .writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            let now = if n <= self.clobbered {
                self.theirs.clone()
            } else {
                document.cloned()
            };
            *self.stored.lock().expect("not poisoned") = now;
            Ok(())
        }

        fn over_limit(document: &Value) -> Option<String> {
            (document["CORSRules"].as_array().map_or(0, Vec::len) > 3)
                .then(|| "more than 3 rules".to_string())
        }
    }

    const QUICK: Rounds = Rounds {
        max_writes: 3,
        pause: Duration::from_millis(1),
    };

    #[tokio::test]
    async fn entries_another_writer_replaced_are_merged_in_again() {
        let bucket = Contested::new(json!({"CORSRules": [{"ID": "theirs"}]}), 1);
        QUICK
            .put_owned(&bucket, &owned("mine-", &["mine-1"]))
            .await
            .expect("in place on the second write");
        assert_eq!(bucket.writes(), 2);
        assert_eq!(
            bucket.stored(),
            Some(json!({"CORSRules": [{"ID": "theirs"}, {"ID": "mine-1", "New": true}]}))
        );
    }

    #[tokio::test]
    async fn a_writer_that_keeps_replacing_the_document_is_given_up_on() {
        let bucket = Contested::new(json!({"CORSRules": [{"ID": "theirs"}]}), usize::MAX);
        let failed = QUICK.put_owned(&bucket, &owned("mine-", &["mine-1"])).await;
        assert!(
            matches!(failed, Err(DocumentError::NotInPlace { rounds: 3, .. })),
            "{failed:?}"
        );
        assert_eq!(bucket.writes(), 3);
    }

    #[tokio::test]
    async fn nothing_is_written_past_the_limit_or_when_nothing_changes() {
        let theirs = json!({"CORSRules": [{"ID": "a"}, {"ID": "b"}]});
        let bucket = Contested::new(theirs.clone(), 0);
        let refused = QUICK
            .put_owned(&bucket, &owned("mine-", &["mine-1", "mine-2"]))
            .await;
        assert!(
            matches!(refused, Err(DocumentError::OverLimit { .. })),
            "{refused:?}"
        );
        assert_eq!((bucket.writes(), bucket.stored()), (0, Some(theirs)));

        let ours = owned("mine-", &["mine-1"]);
        QUICK.put_owned(&bucket, &ours).await.expect("written");
        QUICK
            .put_owned(&bucket, &ours)
            .await
            .expect("already in place");
        assert_eq!(bucket.writes(), 1);
    }

    #[test]
    fn rules_survive_the_trip_through_the_sdk_unchanged() {
        let foreign = json!({"ID": "theirs", "AllowedHeaders": ["Authorization"],
            "AllowedMethods": ["PUT", "POST"], "AllowedOrigins": ["https://a.example"],
            "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600});
        let unnamed = json!({"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]});
        for rule in [foreign, unnamed] {
            let sdk = rule_from_json(&rule).expect("converts");
            assert_eq!(rule_to_json(&sdk), rule);
        }
    }
}
