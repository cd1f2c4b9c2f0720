//! Taking turns on one resource, or one bucket document (or one key's grants), across
//! invocations.
//!
//! S3 replaces a bucket's policy and CORS configuration whole, so two invocations merging
//! into the same one at once can lose each other's entries; and Lambda delivers an event at
//! least once, so two deliveries of one Create can run at once in two sandboxes and make a
//! user's key twice. With a lock bucket (`VENDOR_ACCESS_LOCK_BUCKET`), every write to such a
//! document, and every request of a role or user, happens inside a turn: a lease object
//! `turns/<document>` taken with S3 conditional writes, the only coordination primitive
//! used here.
//!
//! - **Take**: `PutObject` with `If-None-Match: *`. The body is the lease: holder, request,
//!   expiry (wall clock, [`TurnWaits::lease`] ahead).
//! - **Wait**: when the object exists, read it; wait with jittered backoff while the lease
//!   runs, never past the point where this request could still use a turn
//!   ([`TurnWaits::reserve`] before its work deadline). A lease that outlasts that point
//!   fails the request at once, naming the document.
//! - **Take over**: a lease past its expiry (its holder died, or was frozen) is overwritten
//!   with `PutObject` `If-Match: <its ETag>`; of several waiters exactly one succeeds.
//! - **Renew**: while the work runs, the holder rewrites its lease (`If-Match` its own ETag)
//!   every [`TurnWaits::renew_every`]. A holder that cannot renew stops its work
//!   [`TurnWaits::margin`] before the lease it last wrote runs out, before anyone may take
//!   it over.
//! - **Release**: `DeleteObject` `If-Match: <our ETag>`, so a lease someone else took over
//!   is never removed. Work abandoned at the deadline leaves its lease to run out instead,
//!   so that a write still on its way cannot land on the next holder's merge.
//!
//! Turns are always taken in one order, so they cannot deadlock: a request of a role or
//! user first takes the turn on its own resource ([`Document::Resource`]) and keeps it to
//! the end; inside it, it holds at most one document turn at a time. A request holding a
//! document turn never waits for a resource turn, nor for a second document. Without a lock
//! bucket no turn is taken: the function must then run one invocation at a time.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{AwsError, CallError};
use crate::cfn::Invocation;

/// The environment variable naming the lock bucket; unset or empty means no turns.
pub const LOCK_BUCKET_ENV: &str = "VENDOR_ACCESS_LOCK_BUCKET";

/// What the lease objects' keys start with; the execution role may touch only these.
pub const LEASE_PREFIX: &str = "turns/";

/// One resource, or one document, whose writers take turns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// One resource of one stack, by its owner's hash (of the stack id and the logical
    /// id): the requests of a role or user, taken before any other turn.
    Resource {
        owner_hash: String,
        logical_id: String,
    },
    BucketPolicy(String),
    BucketCors(String),
    /// The grants of one KMS key, by its ARN.
    KeyGrants(String),
}

impl Document {
    /// The resource the invocation is for.
    pub fn resource(invocation: &Invocation) -> Self {
        Document::Resource {
            owner_hash: invocation.owner().hash(),
            logical_id: invocation.request.reply_to.logical_resource_id.clone(),
        }
    }

    /// The lease object's key in the lock bucket.
    pub fn lease_key(&self) -> String {
        match self {
            Document::Resource { owner_hash, .. } => format!("{LEASE_PREFIX}resource/{owner_hash}"),
            Document::BucketPolicy(bucket) => format!("{LEASE_PREFIX}bucket-policy/{bucket}"),
            Document::BucketCors(bucket) => format!("{LEASE_PREFIX}bucket-cors/{bucket}"),
            Document::KeyGrants(key_arn) => format!("{LEASE_PREFIX}key-grants/{key_arn}"),
        }
    }
}

impl std::fmt::Display for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Document::Resource { logical_id, .. } => {
                write!(f, "resource {logical_id:?} of this stack")
            }
            Document::BucketPolicy(bucket) => write!(f, "the bucket policy of bucket {bucket:?}"),
            Document::BucketCors(bucket) => {
                write!(f, "the CORS configuration of bucket {bucket:?}")
            }
            Document::KeyGrants(key_arn) => write!(f, "the grants of KMS key {key_arn}"),
        }
    }
}

/// How long leases last and how waiters wait.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnWaits {
    /// How long a lease lasts unless renewed; a dead holder's turn ends this long after
    /// its last renewal.
    pub lease: Duration,
    /// How often a holder renews its lease while its work runs.
    pub renew_every: Duration,
    /// A holder that could not renew stops this long before its lease runs out, so that
    /// it has stopped before anyone may take over (room for clock skew between sandboxes).
    pub margin: Duration,
    /// The time a turn needs once taken: a waiter gives up when it could no longer take
    /// its turn this long before its work deadline.
    pub reserve: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for TurnWaits {
    fn default() -> Self {
        TurnWaits {
            lease: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
            margin: Duration::from_secs(5),
            reserve: Duration::from_secs(10),
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
        }
    }
}

/// Why a turn could not be had, or was lost.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TurnError {
    #[error(
        "waited {waited_ms} ms for a turn on {document}, which another request ({holder}) \
         holds for up to {held_for_s} s more; this request must finish within {left_s} s, so \
         it stops now without changing anything. Retry the stack operation"
    )]
    Deadline {
        document: String,
        holder: String,
        held_for_s: u64,
        left_s: u64,
        waited_ms: u64,
    },
    #[error("could not take a turn on {document}: lock bucket {lock_bucket:?}: {reason}")]
    Lock {
        document: String,
        lock_bucket: String,
        reason: String,
    },
    #[error(
        "lost the turn on {document}: its lease could not be renewed in lock bucket \
         {lock_bucket:?}, so the work stopped before the lease ran out; retry the stack \
         operation"
    )]
    Lost {
        document: String,
        lock_bucket: String,
    },
}

/// Work done in a turn failed, or the turn could not be had.
#[derive(Debug, thiserror::Error)]
pub enum InTurn<E> {
    #[error(transparent)]
    Turn(TurnError),
    #[error(transparent)]
    Work(E),
}

/// The lease object's body. Its ETag is the MD5 of the body, so every write must differ:
/// each holder has a random id, and each renewal a later expiry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    holder: String,
    request: String,
    /// Milliseconds since the Unix epoch.
    expires_at_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Takes turns in one lock bucket; without one, runs the work at once.
#[derive(Debug, Clone, Default)]
pub struct Turns(Option<Arc<LockBucket>>);

#[derive(Debug)]
struct LockBucket {
    s3: aws_sdk_s3::Client,
    bucket: String,
    waits: TurnWaits,
}

/// What a conditional call came to.
enum Conditional<T> {
    Done(T),
    /// The precondition did not hold (412), a concurrent conditional write won (409), or
    /// the object was not there (NoSuchKey): someone else moved first.
    Lost,
    Failed(CallError),
}

fn conditional<T>(result: Result<T, impl AwsError>) -> Conditional<T> {
    match result {
        Ok(done) => Conditional::Done(done),
        Err(error) => {
            // A 404 is a lost race only for the key (NoSuchKey), never for the bucket.
            let lost = matches!(error.http_status(), Some(409 | 412))
                || matches!(
                    error.code(),
                    Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey")
                );
            if lost {
                Conditional::Lost
            } else {
                Conditional::Failed(CallError::of(error))
            }
        }
    }
}

impl Turns {
    /// No lock bucket: nothing is coordinated.
    pub fn none() -> Self {
        Turns(None)
    }

    /// Turns in `bucket` when one is named.
    pub fn new(s3: &aws_sdk_s3::Client, bucket: Option<&str>, waits: TurnWaits) -> Self {
        Turns(bucket.filter(|b| !b.is_empty()).map(|bucket| {
            Arc::new(LockBucket {
                s3: s3.clone(),
                bucket: bucket.to_string(),
                waits,
            })
        }))
    }

    /// Turns in the lock bucket the deployer configured, if any.
    pub fn configured(s3: &aws_sdk_s3::Client, settings: &crate::settings::Settings) -> Self {
        Turns::new(s3, settings.lock_bucket.as_deref(), settings.waits.turns)
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Runs `work` in a turn on `document`: waits for the turn (bounded by the
    /// invocation's work deadline), keeps the lease renewed while the work runs, and
    /// releases it after. Without a lock bucket, runs `work` at once.
    pub async fn in_turn<T, E, Fut>(
        &self,
        document: &Document,
        invocation: &Invocation,
        work: Fut,
    ) -> Result<T, InTurn<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(lock) = &self.0 else {
            return work.await.map_err(InTurn::Work);
        };
        let turn = lock
            .take(document, invocation)
            .await
            .map_err(InTurn::Turn)?;
        tokio::select! {
            done = work => {
                turn.release().await;
                done.map_err(InTurn::Work)
            }
            // The work is stopped; a write it sent may still be on its way, so the lease
            // (if it is still ours) is left to run out, as for abandoned work.
            lost = turn.keep() => Err(InTurn::Turn(lost)),
        }
    }
}

impl LockBucket {
    fn lease_body(&self, lease: &Lease) -> ByteStream {
        ByteStream::from(serde_json::to_vec(lease).unwrap_or_default())
    }

    fn lock_error(&self, document: &Document, error: CallError) -> TurnError {
        TurnError::Lock {
            document: document.to_string(),
            lock_bucket: self.bucket.clone(),
            reason: error.described,
        }
    }

    /// The lease as it is now, with its ETag; `None` when there is none.
    async fn read(&self, key: &str) -> Result<Option<(Lease, String)>, CallError> {
        let output = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) if error.code() == Some("NoSuchKey") => return Ok(None),
            Err(error) => return Err(CallError::of(error)),
        };
        let etag = output.e_tag().unwrap_or_default().to_string();
        // A body that cannot be read is taken to be a lease from its last write.
        let written_ms = output
            .last_modified()
            .and_then(|t| t.to_millis().ok())
            .map_or_else(now_ms, |ms| ms.max(0) as u64);
        let fallback = Lease {
            holder: "unknown".into(),
            request: "unknown".into(),
            expires_at_ms: written_ms + self.waits.lease.as_millis() as u64,
        };
        let lease = match output.body.collect().await {
            Ok(bytes) => serde_json::from_slice(&bytes.into_bytes()).unwrap_or(fallback),
            Err(_) => fallback,
        };
        Ok(Some((lease, etag)))
    }

    /// Writes our lease, unconditionally new (`replacing` = `None`) or over `replacing`.
    async fn write(
        &self,
        key: &str,
        lease: &Lease,
        replacing: Option<&str>,
    ) -> Conditional<String> {
        let put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(self.lease_body(lease));
        let put = match replacing {
            None => put.if_none_match("*"),
            Some(etag) => put.if_match(etag),
        };
        match conditional(put.send().await) {
            Conditional::Done(output) => {
                Conditional::Done(output.e_tag().unwrap_or_default().to_string())
            }
            Conditional::Lost => Conditional::Lost,
            Conditional::Failed(error) => Conditional::Failed(error),
        }
    }

    async fn take(
        self: &Arc<Self>,
        document: &Document,
        invocation: &Invocation,
    ) -> Result<Turn, TurnError> {
        let key = document.lease_key();
        let request = invocation.request.reply_to.request_id.clone();
        let holder = format!("{request}/{:016x}", rand::random::<u64>());
        let latest_start = invocation
            .work_deadline
            .checked_sub(self.waits.reserve)
            .unwrap_or_else(Instant::now);
        let started = Instant::now();
        let mut delay = self.waits.first_delay;
        let mut replacing: Option<String> = None;
        loop {
            let sent = Instant::now();
            let lease = Lease {
                holder: holder.clone(),
                request: request.clone(),
                expires_at_ms: now_ms() + self.waits.lease.as_millis() as u64,
            };
            match self.write(&key, &lease, replacing.as_deref()).await {
                Conditional::Done(etag) => {
                    tracing::info!(
                        document = %document,
                        waited_ms = started.elapsed().as_millis() as u64,
                        took_over = replacing.is_some(),
                        "turn taken"
                    );
                    return Ok(self.turn(document, key, lease, etag, sent));
                }
                Conditional::Failed(error) => return Err(self.lock_error(document, error)),
                Conditional::Lost => {}
            }
            replacing = None;
            let Some((found, etag)) = self
                .read(&key)
                .await
                .map_err(|error| self.lock_error(document, error))?
            else {
                // Released between our write and our read: try again at once.
                continue;
            };
            if found.holder == holder {
                // Our own write landed, and its answer was lost (the SDK retried).
                return Ok(self.turn(document, key, found, etag, sent));
            }
            let now = now_ms();
            if found.expires_at_ms <= now {
                tracing::warn!(
                    document = %document,
                    holder = %found.holder,
                    expired_ms_ago = now - found.expires_at_ms,
                    "taking over an expired lease"
                );
                replacing = Some(etag);
                continue;
            }
            let held_for = Duration::from_millis(found.expires_at_ms - now);
            let free_by = Instant::now() + held_for;
            if free_by > latest_start {
                return Err(TurnError::Deadline {
                    document: document.to_string(),
                    holder: found.request,
                    held_for_s: held_for.as_secs_f64().ceil() as u64,
                    left_s: invocation.time_left().as_secs(),
                    waited_ms: started.elapsed().as_millis() as u64,
                });
            }
            delay = self.wait(document, &found, delay, held_for).await;
        }
    }

    /// One jittered pause of at most `delay` (and no longer than the lease is `held_for`)
    /// while `found` holds the turn; the next pause's bound, doubled up to the maximum.
    async fn wait(
        &self,
        document: &Document,
        found: &Lease,
        delay: Duration,
        held_for: Duration,
    ) -> Duration {
        let pause = delay
            .mul_f64(rand::random_range(0.5..=1.0))
            .min(held_for + Duration::from_millis(10));
        tracing::debug!(
            document = %document,
            holder = %found.holder,
            pause_ms = pause.as_millis() as u64,
            "waiting for a turn"
        );
        tokio::time::sleep(pause).await;
        (delay * 2).min(self.waits.max_delay)
    }

    fn turn(
        self: &Arc<Self>,
        document: &Document,
        key: String,
        lease: Lease,
        etag: String,
        sent: Instant,
    ) -> Turn {
        Turn {
            lock: self.clone(),
            document: document.clone(),
            key,
            held: Mutex::new(Held {
                lease,
                etag,
                // The lease was written after `sent`: ours runs out no later than this.
                runs_out: sent + self.waits.lease,
            }),
            released: false,
        }
    }
}

/// A turn being held.
struct Turn {
    lock: Arc<LockBucket>,
    document: Document,
    key: String,
    held: Mutex<Held>,
    released: bool,
}

struct Held {
    lease: Lease,
    etag: String,
    runs_out: Instant,
}

impl Turn {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lost(&self) -> TurnError {
        TurnError::Lost {
            document: self.document.to_string(),
            lock_bucket: self.lock.bucket.clone(),
        }
    }

    /// Renews the lease for as long as it is polled; returns only when the lease is lost
    /// (someone else holds it) or could not be renewed in time.
    async fn keep(&self) -> TurnError {
        let waits = self.lock.waits;
        let mut next = Instant::now() + waits.renew_every;
        loop {
            tokio::time::sleep_until(next).await;
            let (mut lease, etag, stop_at) = {
                let held = self.held();
                let stop_at = held.runs_out.checked_sub(waits.margin).unwrap_or(next);
                (held.lease.clone(), held.etag.clone(), stop_at)
            };
            if Instant::now() >= stop_at {
                tracing::error!(document = %self.document, "lease not renewed in time; stopping");
                return self.lost();
            }
            let sent = Instant::now();
            lease.expires_at_ms = now_ms() + waits.lease.as_millis() as u64;
            let renewed =
                tokio::time::timeout_at(stop_at, self.lock.write(&self.key, &lease, Some(&etag)))
                    .await;
            match renewed {
                Ok(Conditional::Done(etag)) => {
                    let mut held = self.held();
                    *held = Held {
                        lease,
                        etag,
                        runs_out: sent + waits.lease,
                    };
                    next = sent + waits.renew_every;
                }
                Ok(Conditional::Lost) => match self.lock.read(&self.key).await {
                    // Our renewal landed and its answer was lost.
                    Ok(Some((found, etag))) if found.holder == lease.holder => {
                        let mut held = self.held();
                        *held = Held {
                            runs_out: sent + waits.lease,
                            lease: found,
                            etag,
                        };
                        next = sent + waits.renew_every;
                    }
                    Ok(_) => {
                        tracing::error!(document = %self.document, "lease taken by another holder");
                        return self.lost();
                    }
                    Err(_) => next = Instant::now() + Duration::from_secs(1),
                },
                Ok(Conditional::Failed(error)) => {
                    tracing::warn!(document = %self.document, error = %error, "lease renewal failed");
                    next = Instant::now() + Duration::from_secs(1);
                }
                Err(_elapsed) => {
                    tracing::error!(document = %self.document, "lease renewal timed out; stopping");
                    return self.lost();
                }
            }
        }
    }

    /// Deletes the lease if it is still ours. Failing that, it runs out by itself.
    async fn release(mut self) {
        self.released = true;
        let etag = self.held().etag.clone();
        release(&self.lock, &self.key, &etag, &self.document).await;
    }
}

async fn release(lock: &LockBucket, key: &str, etag: &str, document: &Document) {
    let deleted = lock
        .s3
        .delete_object()
        .bucket(&lock.bucket)
        .key(key)
        .if_match(etag)
        .send()
        .await;
    match conditional(deleted) {
        Conditional::Done(_) => tracing::debug!(document = %document, "turn released"),
        Conditional::Lost => {
            tracing::warn!(document = %document, "the lease was no longer ours to release")
        }
        Conditional::Failed(error) => tracing::warn!(
            document = %document,
            error = %error,
            "the lease could not be released; it runs out by itself"
        ),
    }
}

/// Work abandoned in a turn (the invocation's deadline) does not give the turn back: a
/// write it sent may still be on its way, and must not land on the next holder's merge.
/// The lease runs out by itself, at most [`TurnWaits::lease`] after its last renewal.
impl Drop for Turn {
    fn drop(&mut self) {
        if !self.released {
            tracing::warn!(
                document = %self.document,
                "turn ended with its work stopped (abandoned or lease lost); the lease is left to run out"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_keys_name_the_document_under_the_prefix() {
        assert_eq!(
            Document::BucketPolicy("datalake".into()).lease_key(),
            "turns/bucket-policy/datalake"
        );
        assert_eq!(
            Document::BucketCors("datalake".into()).lease_key(),
            "turns/bucket-cors/datalake"
        );
        let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd";
        assert_eq!(
            Document::KeyGrants(key.into()).lease_key(),
            format!("turns/key-grants/{key}")
        );
    }

    #[test]
    fn a_resource_turn_is_named_for_the_stack_and_logical_id() {
        let owner =
            crate::cfn::OwnerId::new("arn:aws:cloudformation:us-east-1:1:stack/s/1", "User");
        let document = Document::Resource {
            owner_hash: owner.hash(),
            logical_id: "User".into(),
        };
        assert_eq!(
            document.lease_key(),
            format!("turns/resource/{}", owner.hash())
        );
        assert_eq!(document.to_string(), "resource \"User\" of this stack");
    }

    #[test]
    fn a_lock_bucket_must_be_named_for_turns_to_be_taken() {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .build(),
        );
        assert!(!Turns::new(&s3, None, TurnWaits::default()).is_on());
        assert!(!Turns::new(&s3, Some(""), TurnWaits::default()).is_on());
        assert!(Turns::new(&s3, Some("locks"), TurnWaits::default()).is_on());
    }
}
