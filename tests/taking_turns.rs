//! Writers of one bucket document, and the requests of one role or user, take turns
//! (`VENDOR_ACCESS_LOCK_BUCKET`); everything else runs in parallel.
//!
//! Two real `vendor-access` processes, each behind its own runtime-API stand-in, merge into
//! one bucket's policy and CORS configuration at once, round after round, against moto. The
//! timing is the one that loses entries without turns: the second request reads the
//! document while the first one's write is on its way (the proxy holds every
//! PutBucketPolicy and PutBucketCors for a moment), and writes after the first has read its
//! entries back. Without the lock bucket that loses the first request's entries; with it,
//! nothing is lost. Likewise, the same Create of a user or role reaches both processes at
//! once: without a turn on the resource a user gets two keys, or a FAILED answer; with it,
//! the second delivery adopts what the first made.
//!
//! moto checks `If-None-Match` / `If-Match` and then writes, in one thread per request, so
//! two conditional writes arriving together can both pass; S3 decides them atomically. The
//! proxy passes the lock bucket's requests to moto one at a time, so that moto decides as
//! S3 does (`moto_decides_conditional_writes_only_one_at_a_time` shows both).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use support::cfn::{Cfn, assert_success, reason};
use support::faults::{Fault, FaultProxy};
use support::lambda::FunctionProcess;
use support::{ACCOUNT, Stack, clients, clients_at, moto, new_bucket, response_url};
use vendor_access::aws::Clients;
use vendor_access::aws::turns::{Document, TurnWaits};
use vendor_access::resources::registry;
use wiremock::MockServer;

const STATEMENTS: &str = "Custom::BucketPolicyStatements";
const CORS: &str = "Custom::BucketCors";

/// Rounds of two requests at once on one document.
const ROUNDS: usize = 16;
/// How long the proxy holds each bucket-document write.
const WRITE_TAKES: Duration = Duration::from_millis(300);
/// How long after the first request the second one arrives.
const SECOND_ARRIVES: Duration = Duration::from_millis(100);
/// The Lambda timeout the processes' events get.
const TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// The pieces

/// moto behind a proxy that holds bucket-document writes and passes the lock bucket's
/// requests one at a time; the lock bucket, and clients that go straight to moto.
struct Stage {
    proxy: FaultProxy,
    direct: Clients,
    lock_bucket: String,
}

impl Stage {
    async fn new() -> Self {
        let direct = clients().await;
        let lock_bucket = new_bucket(&direct, "locks").await;
        let proxy = FaultProxy::start(&moto().endpoint).await;
        proxy.one_at_a_time(&format!("/{lock_bucket}/"));
        Stage {
            proxy,
            direct,
            lock_bucket,
        }
    }

    fn slow_document_writes(&self) {
        self.proxy
            .break_("PutBucketPolicy", Fault::Delay(WRITE_TAKES))
            .break_("PutBucketCors", Fault::Delay(WRITE_TAKES));
    }

    /// The function in this process, through the proxy, with turns in the lock bucket.
    async fn in_process(&self, settings: vendor_access::settings::Settings) -> Cfn {
        let through_proxy = clients_at(&self.proxy.endpoint).await;
        let settings = vendor_access::settings::Settings {
            lock_bucket: Some(self.lock_bucket.clone()),
            ..settings
        };
        Cfn::with_registry(registry(&through_proxy, &settings))
    }

    /// A lease of someone else's on `document`, running out `expires_in` from now.
    async fn lease_held_by(&self, holder: &str, document: &Document, expires_in: Duration) {
        let expires_at_ms = (SystemTime::now() + expires_in)
            .duration_since(UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis() as u64;
        let lease = json!({"holder": holder, "request": holder, "expires_at_ms": expires_at_ms});
        self.direct
            .s3
            .put_object()
            .bucket(&self.lock_bucket)
            .key(document.lease_key())
            .body(ByteStream::from(lease.to_string().into_bytes()))
            .send()
            .await
            .expect("the lease written");
    }

    /// The holder named in the lease on `document`, if there is one.
    async fn lease_holder(&self, document: &Document) -> Option<String> {
        let object = self
            .direct
            .s3
            .get_object()
            .bucket(&self.lock_bucket)
            .key(document.lease_key())
            .send()
            .await
            .ok()?;
        let bytes = object.body.collect().await.ok()?.into_bytes();
        let lease: Value = serde_json::from_slice(&bytes).ok()?;
        lease["holder"].as_str().map(str::to_string)
    }

    async fn release(&self, document: &Document) {
        self.direct
            .s3
            .delete_object()
            .bucket(&self.lock_bucket)
            .key(document.lease_key())
            .send()
            .await
            .expect("the lease deleted");
    }
}

/// A statement that can be found again by `tag`, on its own path of the bucket.
fn statement_props(bucket: &str, tag: &str) -> Value {
    json!({"Bucket": bucket, "Statements": [{
        "Sid": "Read",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
        "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{bucket}/{tag}/*"),
    }]})
}

/// A CORS rule that can be found again by `tag`, for its own origin.
fn cors_props(bucket: &str, tag: &str) -> Value {
    json!({"Bucket": bucket, "Rules": [
        {"AllowedOrigins": [format!("https://{tag}.example.com")], "AllowedMethods": ["GET"]}
    ]})
}

/// The tags of the statements in the bucket's policy, and of the rules in its CORS
/// configuration (the bucket's own ones included).
async fn tags_in(clients: &Clients, bucket: &str) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    if let Ok(policy) = clients.s3.get_bucket_policy().bucket(bucket).send().await {
        let policy: Value = serde_json::from_str(policy.policy().unwrap_or("{}")).expect("JSON");
        for statement in policy["Statement"].as_array().into_iter().flatten() {
            let resource = statement["Resource"].as_str().unwrap_or_default();
            let path = resource.trim_start_matches(&format!("arn:aws:s3:::{bucket}/"));
            tags.insert(path.trim_end_matches("/*").to_string());
        }
    }
    if let Ok(cors) = clients.s3.get_bucket_cors().bucket(bucket).send().await {
        for rule in cors.cors_rules() {
            for origin in rule.allowed_origins() {
                let host = origin.trim_start_matches("https://");
                tags.insert(host.trim_end_matches(".example.com").to_string());
            }
        }
    }
    tags
}

/// The bucket's own statement and CORS rule, there before any stack.
async fn bucket_with_its_own_documents(clients: &Clients, prefix: &str) -> String {
    let bucket = new_bucket(clients, prefix).await;
    let own = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "Own", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/own/*"),
    }]});
    clients
        .s3
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(own.to_string())
        .send()
        .await
        .expect("own policy");
    let rule = aws_sdk_s3::types::CorsRule::builder()
        .allowed_origins("https://own.example.com")
        .allowed_methods("GET")
        .build()
        .expect("a rule");
    let configuration = aws_sdk_s3::types::CorsConfiguration::builder()
        .cors_rules(rule)
        .build()
        .expect("a configuration");
    clients
        .s3
        .put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(configuration)
        .send()
        .await
        .expect("own CORS");
    bucket
}

/// The answers CloudFormation got at `catcher`, once there are `count`.
async fn answers(catcher: &MockServer, count: usize) -> Vec<Value> {
    let waiting = Instant::now();
    loop {
        let bodies = support::responses(catcher).await;
        if bodies.len() >= count {
            return bodies;
        }
        assert!(
            waiting.elapsed() < TIMEOUT,
            "only {} of {count} answers arrived",
            bodies.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the rounds came to.
#[derive(Debug, Default)]
struct Rounds {
    /// Tags whose request succeeded but whose entry is not in the bucket.
    lost: Vec<String>,
    /// Rounds in which an entry was lost.
    rounds_with_loss: usize,
    slowest_round: Duration,
}

/// Two processes, two stacks: in each round one request from each stack on one document
/// of `bucket` (the policy in even rounds, CORS in odd ones), the second arriving
/// [`SECOND_ARRIVES`] after the first. Every answer must be SUCCESS.
async fn two_processes_merge_at_once(
    first: &FunctionProcess,
    second: &FunctionProcess,
    direct: &Clients,
    bucket: &str,
) -> Rounds {
    let catcher = support::catcher().await;
    let (stack_a, stack_b) = (Stack::new(), Stack::new());
    let mut outcome = Rounds::default();
    let mut expected: BTreeSet<String> = tags_in(direct, bucket).await;
    for round in 0..ROUNDS {
        let (kind, props): (&str, fn(&str, &str) -> Value) = match round % 2 {
            0 => (STATEMENTS, statement_props),
            _ => (CORS, cors_props),
        };
        let (tag_a, tag_b) = (format!("a{round}"), format!("b{round}"));
        let logical_id = format!("Round{round}");
        let event_a = stack_a.create(
            &response_url(&catcher),
            kind,
            &logical_id,
            props(bucket, &tag_a),
        );
        let event_b = stack_b.create(
            &response_url(&catcher),
            kind,
            &logical_id,
            props(bucket, &tag_b),
        );
        let started = Instant::now();
        first.api.invoke(&event_a, TIMEOUT);
        tokio::time::sleep(SECOND_ARRIVES).await;
        second.api.invoke(&event_b, TIMEOUT);
        for answer in answers(&catcher, 2 * (round + 1)).await {
            assert_success(&answer);
        }
        outcome.slowest_round = outcome.slowest_round.max(started.elapsed());
        expected.extend([tag_a.clone(), tag_b.clone()]);
        let found = tags_in(direct, bucket).await;
        let lost: Vec<String> = expected.difference(&found).cloned().collect();
        let new_losses: Vec<String> = lost
            .iter()
            .filter(|tag| !outcome.lost.contains(tag))
            .cloned()
            .collect();
        if !new_losses.is_empty() {
            eprintln!("round {round}: lost {new_losses:?}");
            outcome.rounds_with_loss += 1;
            outcome.lost.extend(new_losses);
        }
    }
    outcome
}

// ---------------------------------------------------------------------------------------
// The primitive

#[tokio::test]
async fn moto_decides_conditional_writes_only_one_at_a_time() {
    // GIVEN moto, straight and through the proxy that passes the lock bucket's requests
    // one at a time
    let stage = Stage::new().await;
    let through_proxy = clients_at(&stage.proxy.endpoint).await;
    let s3 = &stage.direct.s3;
    let key = "turns/probe";

    // THEN If-None-Match: * refuses a second create, If-Match refuses a stale ETag, on
    // PutObject and DeleteObject, as S3 does (412 PreconditionFailed)
    // (An ETag is the MD5 of the body: every write here has a body of its own, as every
    // lease has.)
    let put = |etag: Option<&str>, none: bool| {
        let body = format!("{{\"write\": \"{}\"}}", support::unique("w"));
        let request = s3
            .put_object()
            .bucket(&stage.lock_bucket)
            .key(key)
            .body(ByteStream::from(body.into_bytes()));
        let request = match (etag, none) {
            (Some(etag), _) => request.if_match(etag),
            (None, true) => request.if_none_match("*"),
            (None, false) => request,
        };
        request.send()
    };
    let first = put(None, true).await.expect("created");
    let etag = first.e_tag().expect("an ETag").to_string();
    let again = put(None, true).await.expect_err("exists already");
    assert_eq!(again.code(), Some("PreconditionFailed"));
    let renewed = put(Some(&etag), false).await.expect("the ETag matches");
    let new_etag = renewed.e_tag().expect("an ETag").to_string();
    let stale = put(Some("\"0123456789abcdef0123456789abcdef\""), false)
        .await
        .expect_err("a stale ETag");
    assert_eq!(stale.code(), Some("PreconditionFailed"));
    let delete = |etag: String| {
        s3.delete_object()
            .bucket(&stage.lock_bucket)
            .key(key)
            .if_match(etag)
            .send()
    };
    let refused = delete(etag.clone()).await.expect_err("a stale ETag");
    assert_eq!(refused.code(), Some("PreconditionFailed"));
    delete(new_etag).await.expect("the ETag matches");

    // WHEN 16 clients create the same key with If-None-Match at once, many times
    let mut straight_winners = Vec::new();
    let mut proxied_winners = Vec::new();
    for attempt in 0..20 {
        for (way, clients, winners) in [
            ("straight", &stage.direct, &mut straight_winners),
            ("proxied", &through_proxy, &mut proxied_winners),
        ] {
            let key = format!("turns/race-{way}-{attempt}");
            let racers: Vec<_> = (0..16)
                .map(|_| {
                    let put = clients
                        .s3
                        .put_object()
                        .bucket(&stage.lock_bucket)
                        .key(&key)
                        .if_none_match("*")
                        .body(ByteStream::from_static(b"{}"));
                    tokio::spawn(put.send())
                })
                .collect();
            let mut won = 0;
            for racer in racers {
                won += usize::from(racer.await.expect("a racer").is_ok());
            }
            winners.push(won);
        }
    }

    // THEN through the proxy exactly one wins every time; straight to moto, more than one
    // may (reported, not asserted: it depends on thread scheduling)
    assert!(
        proxied_winners.iter().all(|&w| w == 1),
        "{proxied_winners:?}"
    );
    let doubled = straight_winners.iter().filter(|&&w| w > 1).count();
    eprintln!(
        "straight to moto, {doubled} of {} races had more than one winner: {straight_winners:?}",
        straight_winners.len()
    );
}

// ---------------------------------------------------------------------------------------
// Two processes on one bucket

#[tokio::test]
async fn without_the_lock_bucket_two_processes_lose_each_others_entries() {
    // GIVEN two function processes without a lock bucket, and a bucket with its own
    // statement and CORS rule
    let stage = Stage::new().await;
    stage.slow_document_writes();
    let first = FunctionProcess::start(&stage.proxy.endpoint, None, "unlocked-1").await;
    let second = FunctionProcess::start(&stage.proxy.endpoint, None, "unlocked-2").await;
    let bucket = bucket_with_its_own_documents(&stage.direct, "unlocked").await;

    // WHEN two stacks merge into its policy (or CORS) at once, round after round
    let outcome = two_processes_merge_at_once(&first, &second, &stage.direct, &bucket).await;

    // THEN every request answered SUCCESS, yet entries were lost: the attack works
    eprintln!("without turns: {outcome:?}");
    assert!(
        outcome.rounds_with_loss >= ROUNDS / 2,
        "entries were lost in only {} of {ROUNDS} rounds: {outcome:?}",
        outcome.rounds_with_loss
    );
}

#[tokio::test]
async fn with_the_lock_bucket_two_processes_merging_at_once_lose_nothing() {
    // GIVEN two function processes taking turns in the lock bucket, and a bucket with its
    // own statement and CORS rule
    let stage = Stage::new().await;
    stage.slow_document_writes();
    let lock = Some(stage.lock_bucket.as_str());
    let first = FunctionProcess::start(&stage.proxy.endpoint, lock, "locked-1").await;
    let second = FunctionProcess::start(&stage.proxy.endpoint, lock, "locked-2").await;
    let bucket = bucket_with_its_own_documents(&stage.direct, "locked").await;

    // WHEN two stacks merge into its policy (or CORS) at once, round after round, with the
    // timing that loses entries without turns
    let outcome = two_processes_merge_at_once(&first, &second, &stage.direct, &bucket).await;

    // THEN nothing is lost: the bucket's own statement and rule, and all 2 x 16 of the stacks'
    eprintln!("with turns: {outcome:?}");
    assert!(outcome.lost.is_empty(), "{outcome:?}");
    let mut expected: BTreeSet<String> = (0..ROUNDS)
        .flat_map(|round| [format!("a{round}"), format!("b{round}")])
        .collect();
    expected.insert("own".into());
    assert_eq!(tags_in(&stage.direct, &bucket).await, expected);
    // ... and every turn was given back
    for document in [
        Document::BucketPolicy(bucket.clone()),
        Document::BucketCors(bucket),
    ] {
        assert_eq!(stage.lease_holder(&document).await, None);
    }
}

// ---------------------------------------------------------------------------------------
// Leases

#[tokio::test]
async fn a_lease_whose_holder_died_is_taken_over_once_it_runs_out() {
    // GIVEN a lease on a bucket's policy, left by a holder that died; it runs out in 3 s
    let stage = Stage::new().await;
    let cfn = stage.in_process(support::settings()).await;
    let bucket = new_bucket(&stage.direct, "orphaned").await;
    let policy = Document::BucketPolicy(bucket.clone());
    stage
        .lease_held_by("dead-holder", &policy, Duration::from_secs(3))
        .await;

    // WHEN a stack adds a statement to that policy
    let started = Instant::now();
    let created = cfn
        .create(STATEMENTS, "Orphaned", statement_props(&bucket, "after"))
        .await;

    // THEN it waited for the lease to run out, took it over, merged, and gave it back
    assert_success(&created);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    assert!(tags_in(&stage.direct, &bucket).await.contains("after"));
    assert_eq!(stage.lease_holder(&policy).await, None);
}

#[tokio::test]
async fn a_lease_that_ran_out_long_ago_is_taken_over_at_once() {
    // GIVEN a lease on a bucket's CORS that ran out a minute ago
    let stage = Stage::new().await;
    let cfn = stage.in_process(support::settings()).await;
    let bucket = new_bucket(&stage.direct, "stale").await;
    let cors = Document::BucketCors(bucket.clone());
    stage
        .lease_held_by("dead-holder", &cors, Duration::ZERO)
        .await;
    tokio::time::sleep(Duration::from_millis(10)).await;

    // WHEN a stack adds a CORS rule
    let started = Instant::now();
    let created = cfn
        .create(CORS, "Stale", cors_props(&bucket, "taken"))
        .await;

    // THEN it did not wait
    assert_success(&created);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(tags_in(&stage.direct, &bucket).await.contains("taken"));
}

#[tokio::test]
async fn a_wait_that_cannot_end_before_the_deadline_fails_at_once_naming_the_bucket() {
    // GIVEN another request's lease on a bucket's policy for 2 more minutes, and a request
    // whose Lambda deadline is 30 s away
    let stage = Stage::new().await;
    let cfn = stage
        .in_process(support::settings())
        .await
        .with_deadline(30);
    let bucket = new_bucket(&stage.direct, "busy").await;
    let policy = Document::BucketPolicy(bucket.clone());
    stage
        .lease_held_by("live-holder", &policy, Duration::from_secs(120))
        .await;

    // WHEN the request asks to add a statement to that policy
    let started = Instant::now();
    let refused = cfn
        .create(STATEMENTS, "Busy", statement_props(&bucket, "never"))
        .await;

    // THEN it fails at once, naming the bucket and the document, and touches nothing
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let reason = reason(&refused);
    assert!(
        reason.contains(&format!("the bucket policy of bucket {bucket:?}")),
        "{reason}"
    );
    assert!(reason.contains("live-holder"), "{reason}");
    assert!(reason.contains("without changing anything"), "{reason}");
    assert!(tags_in(&stage.direct, &bucket).await.is_empty());
    assert_eq!(
        stage.lease_holder(&policy).await.as_deref(),
        Some("live-holder")
    );
}

#[tokio::test]
async fn documents_of_other_buckets_and_other_kinds_do_not_wait() {
    // GIVEN another request holding bucket X's policy for a minute
    let stage = Stage::new().await;
    let cfn = stage
        .in_process(support::settings())
        .await
        .with_deadline(120);
    let x = new_bucket(&stage.direct, "held").await;
    let y = new_bucket(&stage.direct, "free").await;
    let x_policy = Document::BucketPolicy(x.clone());
    stage
        .lease_held_by("live-holder", &x_policy, Duration::from_secs(60))
        .await;

    // WHEN a stack adds a statement to X's policy (it waits), and other stacks add a
    // statement to Y's policy and a CORS rule to X
    let waiting = cfn.in_new_stack();
    let x_statement = statement_props(&x, "x-waited");
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let answer = waiting.create(STATEMENTS, "Waits", x_statement).await;
        (answer, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let on_y = cfn
        .in_new_stack()
        .create(STATEMENTS, "OtherBucket", statement_props(&y, "y-free"))
        .await;
    let cors_on_x = cfn
        .in_new_stack()
        .create(CORS, "OtherDocument", cors_props(&x, "x-cors-free"))
        .await;
    let both = started.elapsed();

    // THEN those two are done at once, while the first still waits
    assert_success(&on_y);
    assert_success(&cors_on_x);
    assert!(both < Duration::from_secs(2), "{both:?}");
    assert!(!waiter.is_finished());
    assert!(tags_in(&stage.direct, &y).await.contains("y-free"));
    assert!(tags_in(&stage.direct, &x).await.contains("x-cors-free"));

    // WHEN the holder gives X's policy back, THEN the first one gets its turn
    stage.release(&x_policy).await;
    let (answer, waited) = waiter.await.expect("the waiter");
    assert_success(&answer);
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert!(tags_in(&stage.direct, &x).await.contains("x-waited"));
}

/// Leases of 3 s renewed every second: turns that outlast a lease, quickly.
fn short_leases() -> vendor_access::settings::Settings {
    let mut settings = support::settings();
    settings.waits.turns = TurnWaits {
        lease: Duration::from_secs(3),
        renew_every: Duration::from_secs(1),
        margin: Duration::from_millis(500),
        reserve: Duration::from_secs(2),
        ..TurnWaits::default()
    };
    settings
}

#[tokio::test]
async fn a_turn_longer_than_its_lease_is_renewed_and_not_taken_over() {
    // GIVEN 3 s leases, and a bucket whose policy writes take 4 s
    let stage = Stage::new().await;
    stage
        .proxy
        .break_("PutBucketPolicy", Fault::Delay(Duration::from_secs(4)));
    let cfn = stage.in_process(short_leases()).await.with_deadline(60);
    let bucket = new_bucket(&stage.direct, "long-turn").await;

    // WHEN one stack adds a statement, and another one a moment later
    let first = cfn.in_new_stack();
    let props = statement_props(&bucket, "first");
    let first = tokio::spawn(async move { first.create(STATEMENTS, "First", props).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let second = cfn
        .in_new_stack()
        .create(STATEMENTS, "Second", statement_props(&bucket, "second"))
        .await;

    // THEN the second waited for the whole first turn (the lease was renewed, not taken
    // over after 3 s), and both statements are there
    assert_success(&second);
    assert_success(&first.await.expect("the first"));
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    let tags = tags_in(&stage.direct, &bucket).await;
    assert!(
        tags.contains("first") && tags.contains("second"),
        "{tags:?}"
    );
}

#[tokio::test]
async fn a_holder_whose_lease_was_taken_stops_and_says_so() {
    // GIVEN 3 s leases, and a bucket whose policy writes take 4 s
    let stage = Stage::new().await;
    stage
        .proxy
        .break_("PutBucketPolicy", Fault::Delay(Duration::from_secs(4)));
    let cfn = stage.in_process(short_leases()).await.with_deadline(60);
    let bucket = new_bucket(&stage.direct, "taken").await;
    let policy = Document::BucketPolicy(bucket.clone());

    // WHEN a stack adds a statement, and while its write is on its way someone else
    // overwrites its lease
    let holder = cfn.in_new_stack();
    let props = statement_props(&bucket, "lost");
    let started = Instant::now();
    let holder = tokio::spawn(async move { holder.create(STATEMENTS, "Lost", props).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        stage.lease_holder(&policy).await.is_some(),
        "the turn was taken"
    );
    stage
        .lease_held_by("intruder", &policy, Duration::from_secs(30))
        .await;

    // THEN at its next renewal it finds the lease gone, stops, and fails naming the bucket;
    // the other holder's lease is left alone
    let answer = holder.await.expect("the holder");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = reason(&answer);
    assert!(
        reason.contains(&format!(
            "lost the turn on the bucket policy of bucket {bucket:?}"
        )),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        stage.lease_holder(&policy).await.as_deref(),
        Some("intruder")
    );
}

#[tokio::test]
async fn work_abandoned_at_the_deadline_leaves_its_lease_to_run_out() {
    // GIVEN 3 s leases, a request whose Lambda deadline is 10 s away, and policy writes
    // that hang for 15 s
    let stage = Stage::new().await;
    stage
        .proxy
        .break_("PutBucketPolicy", Fault::Delay(Duration::from_secs(15)));
    let cfn = stage.in_process(short_leases()).await;
    let bucket = new_bucket(&stage.direct, "abandoned").await;
    let policy = Document::BucketPolicy(bucket.clone());

    // WHEN it adds a statement, and its write is still on its way when the work is abandoned
    let abandoned = cfn
        .with_deadline(10)
        .create(STATEMENTS, "Abandoned", statement_props(&bucket, "late"))
        .await;

    // THEN it answers "timed out", and its lease is still there: the write on its way cannot
    // land on the next holder's merge before the lease runs out
    assert_eq!(abandoned["Status"], "FAILED", "{abandoned}");
    assert!(reason(&abandoned).contains("timed out"), "{abandoned}");
    assert!(stage.lease_holder(&policy).await.is_some());
}

#[tokio::test]
async fn a_lock_bucket_that_cannot_be_written_fails_the_request_and_nothing_is_merged() {
    // GIVEN a function whose lock bucket does not exist
    let stage = Stage::new().await;
    let through_proxy = clients_at(&stage.proxy.endpoint).await;
    let settings = vendor_access::settings::Settings {
        lock_bucket: Some("no-such-lock-bucket-for-turns".into()),
        ..support::settings()
    };
    let cfn = Cfn::with_registry(registry(&through_proxy, &settings));
    let bucket = new_bucket(&stage.direct, "unguarded").await;

    // WHEN a stack adds a statement
    let refused = cfn
        .create(STATEMENTS, "Unguarded", statement_props(&bucket, "never"))
        .await;

    // THEN it fails naming the lock bucket and the document, and the policy is untouched
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    let reason = reason(&refused);
    assert!(reason.contains("no-such-lock-bucket-for-turns"), "{reason}");
    assert!(
        reason.contains(&format!("the bucket policy of bucket {bucket:?}")),
        "{reason}"
    );
    assert!(tags_in(&stage.direct, &bucket).await.is_empty());
}

#[tokio::test]
async fn a_grant_on_a_key_waits_for_the_turn_on_that_key() {
    // GIVEN a customer key that only honours grants, a lease a dead holder left on its
    // grants, running out in 3 s
    let stage = Stage::new().await;
    let cfn = stage
        .in_process(support::settings())
        .await
        .with_deadline(60);
    let bucket = new_bucket(&stage.direct, "granted").await;
    let key_arn = support::customer_key(&stage.direct, Some(support::closed_key_policy())).await;
    let grants = Document::KeyGrants(key_arn.clone());
    stage
        .lease_held_by("dead-holder", &grants, Duration::from_secs(3))
        .await;

    // WHEN a role for Activeloop is given a grant on that key
    let started = Instant::now();
    let created = cfn
        .create(
            "Custom::VendorS3Access",
            "Granted",
            json!({"Vendor": "activeloop", "KmsKeyArns": [key_arn], "KmsAccess": "grant",
                   "Locations": [{"Bucket": bucket}]}),
        )
        .await;

    // THEN the grant was made in a turn on the key: after the lease ran out
    assert_success(&created);
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    let role_arn = support::data(&created, "RoleArn");
    assert_eq!(
        support::grants_to(&stage.direct, &key_arn, &role_arn)
            .await
            .len(),
        1
    );
    assert_eq!(stage.lease_holder(&grants).await, None);
}

// ---------------------------------------------------------------------------------------
// Propagation waits happen outside any turn

#[tokio::test]
async fn a_principal_that_never_appears_fails_without_holding_up_the_bucket() {
    // GIVEN S3 refusing every policy that names one role ("Invalid principal"), and a
    // propagation window of 4 s
    let stage = Stage::new().await;
    stage.proxy.break_when(
        "PutBucketPolicy",
        "role/not-there-yet",
        Fault::Refuse(400, "MalformedPolicy", "Invalid principal in policy"),
    );
    let mut settings = support::settings();
    settings.waits.propagation.window = Duration::from_secs(4);
    settings.waits.turns = TurnWaits::default();
    let cfn = stage.in_process(settings).await.with_deadline(60);
    let bucket = new_bucket(&stage.direct, "propagating").await;

    // WHEN one stack names that role in the bucket's policy, and another stack adds a
    // statement to the same policy a moment later
    let mut never = statement_props(&bucket, "never");
    never["Statements"][0]["Principal"] =
        json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:role/not-there-yet")});
    let naming = cfn.in_new_stack();
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let answer = naming.create(STATEMENTS, "Unpropagated", never).await;
        (answer, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let other = cfn
        .in_new_stack()
        .create(STATEMENTS, "Other", statement_props(&bucket, "other"))
        .await;

    // THEN the other one is not held up: the first waits for its principal between turns
    assert_success(&other);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!waiter.is_finished());

    // ... and the first fails once the window is used up, saying why
    let (answer, waited) = waiter.await.expect("the waiter");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    assert!(reason(&answer).contains("IAM did not accept"), "{answer}");
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    let tags = tags_in(&stage.direct, &bucket).await;
    assert!(
        tags.contains("other") && !tags.contains("never"),
        "{tags:?}"
    );
    assert_eq!(
        stage.lease_holder(&Document::BucketPolicy(bucket)).await,
        None
    );
}

// ---------------------------------------------------------------------------------------
// Two deliveries of one event
//
// Lambda delivers an asynchronous event at least once: the same Create can reach two
// sandboxes at once. The proxy holds every CreateAccessKey and CreateSecret for a moment,
// so that both deliveries look for the user's key (and its secret) before either has made
// one.

/// Rounds of one event delivered to two processes at once, per resource kind.
const DUPLICATE_ROUNDS: usize = 6;
/// How long the proxy holds each CreateAccessKey and CreateSecret.
const KEY_CALLS_TAKE: Duration = Duration::from_millis(300);

/// The resources delivered twice: a user keeping its key in Secrets Manager, a user
/// handing it back as an attribute, a role with a KMS grant.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Delivered {
    UserWithSecret,
    UserWithAttribute,
    RoleWithGrant,
}

/// What one round left wrong, if anything: one line per finding.
async fn what_two_deliveries_left(
    direct: &Clients,
    kind: Delivered,
    name: &str,
    key_arn: &str,
    answers: &[Value],
) -> Vec<String> {
    let mut wrong = Vec::new();
    for answer in answers {
        if answer["Status"] != "SUCCESS" {
            wrong.push(format!("FAILED: {}", reason(answer)));
        }
    }
    if answers[0]["PhysicalResourceId"] != answers[1]["PhysicalResourceId"] {
        wrong.push("different physical ids".into());
    }
    // A key handed back as an attribute has its secret in one answer only: the one that
    // made it.
    let outputs = |answer: &Value| {
        let mut data = answer["Data"].clone();
        if let (Delivered::UserWithAttribute, Some(data)) = (kind, data.as_object_mut()) {
            data.remove("SecretAccessKey");
            data.remove("Warnings");
        }
        data
    };
    if outputs(&answers[0]) != outputs(&answers[1]) {
        wrong.push("different outputs".into());
    }
    let secrets_handed_back = answers
        .iter()
        .filter(|a| {
            a["Data"]["SecretAccessKey"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    if kind == Delivered::UserWithAttribute && secrets_handed_back != 1 {
        wrong.push(format!("{secrets_handed_back} answers hand back a secret"));
    }
    if kind == Delivered::RoleWithGrant {
        let Ok(role) = direct.iam.get_role().role_name(name).send().await else {
            wrong.push("no role left".into());
            return wrong;
        };
        let arn = role.role().map(|r| r.arn().to_string()).unwrap_or_default();
        let grants = support::grants_to(direct, key_arn, &arn).await.len();
        if grants != 1 {
            wrong.push(format!("{grants} grants"));
        }
        return wrong;
    }
    let Ok(keys) = direct.iam.list_access_keys().user_name(name).send().await else {
        wrong.push("no user left".into());
        return wrong;
    };
    let keys: Vec<&str> = keys
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .collect();
    if keys.len() != 1 {
        wrong.push(format!("{} access keys", keys.len()));
    }
    for answer in answers.iter().filter(|a| a["Status"] == "SUCCESS") {
        let answered = answer["Data"]["AccessKeyId"].as_str().unwrap_or_default();
        if !keys.contains(&answered) {
            wrong.push("an answer names a key the user does not have".into());
        }
    }
    if kind == Delivered::UserWithSecret {
        let stored = direct
            .secrets
            .get_secret_value()
            .secret_id(format!("vendor-access/{name}"))
            .send()
            .await
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(s.secret_string()?).ok());
        match stored.as_ref().and_then(|s| s["AccessKeyId"].as_str()) {
            None => wrong.push("no secret left".into()),
            Some(id) if !keys.contains(&id) => {
                wrong.push("the secret holds a key the user does not have".into())
            }
            Some(_) => {}
        }
    }
    wrong
}

/// What the rounds of two deliveries came to.
#[derive(Debug, Default)]
struct DuplicateRounds {
    /// Per kind: rounds that left something wrong, of [`DUPLICATE_ROUNDS`].
    wrong_rounds: Vec<(Delivered, usize)>,
    /// Every finding, with its round.
    findings: Vec<String>,
}

impl DuplicateRounds {
    fn wrong(&self, kind: Delivered) -> usize {
        self.wrong_rounds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}

/// Two processes, and in each round one Create event delivered to both at once.
async fn one_event_delivered_to_both(
    first: &FunctionProcess,
    second: &FunctionProcess,
    direct: &Clients,
) -> DuplicateRounds {
    let bucket = new_bucket(direct, "delivered").await;
    let key_arn = support::customer_key(direct, Some(support::closed_key_policy())).await;
    // The role's grant is on the default key of its bucket, which needs no listing.
    let encrypted = new_bucket(direct, "delivered-kms").await;
    let aws_kms = aws_sdk_s3::types::ServerSideEncryption::AwsKms;
    support::encrypt_bucket(&direct.s3, &encrypted, aws_kms, Some(&key_arn), false).await;
    let mut outcome = DuplicateRounds::default();
    for kind in [
        Delivered::UserWithSecret,
        Delivered::UserWithAttribute,
        Delivered::RoleWithGrant,
    ] {
        let mut wrong_rounds = 0;
        for round in 0..DUPLICATE_ROUNDS {
            let catcher = support::catcher().await;
            let name = support::unique("delivered-twice");
            let locations = json!([{"Bucket": bucket}]);
            let (resource_type, props) = match kind {
                Delivered::UserWithSecret => (
                    "Custom::VendorS3User",
                    json!({"UserName": name, "Locations": locations}),
                ),
                Delivered::UserWithAttribute => (
                    "Custom::VendorS3User",
                    json!({"UserName": name, "Locations": locations,
                           "SecretStorage": "attribute"}),
                ),
                Delivered::RoleWithGrant => (
                    "Custom::VendorS3Access",
                    json!({"Vendor": "activeloop", "RoleName": name, "KmsAccess": "grant",
                           "Locations": [{"Bucket": encrypted}]}),
                ),
            };
            let event = Stack::new().create(&response_url(&catcher), resource_type, "Twice", props);
            first.api.invoke(&event, TIMEOUT);
            second.api.invoke(&event, TIMEOUT);
            let answers = answers(&catcher, 2).await;
            let wrong = what_two_deliveries_left(direct, kind, &name, &key_arn, &answers).await;
            if !wrong.is_empty() {
                wrong_rounds += 1;
                let found = format!("{kind:?} round {round}: {}", wrong.join("; "));
                eprintln!("{found}");
                outcome.findings.push(found);
            }
        }
        outcome.wrong_rounds.push((kind, wrong_rounds));
    }
    outcome
}

#[tokio::test]
async fn without_a_turn_on_the_resource_one_event_delivered_twice_leaves_two_keys_or_none() {
    // GIVEN two function processes without a lock bucket (as every request ran before the
    // turn on the resource), and key and secret creations that take a moment
    let stage = Stage::new().await;
    stage
        .proxy
        .break_("CreateAccessKey", Fault::Delay(KEY_CALLS_TAKE))
        .break_("CreateSecret", Fault::Delay(KEY_CALLS_TAKE));
    let first = FunctionProcess::start(&stage.proxy.endpoint, None, "twice-unlocked-1").await;
    let second = FunctionProcess::start(&stage.proxy.endpoint, None, "twice-unlocked-2").await;

    // WHEN the same Create event reaches both at once, round after round
    let outcome = one_event_delivered_to_both(&first, &second, &stage.direct).await;

    // THEN a user's key is made twice: the attack works for both kinds of user
    eprintln!("without a turn on the resource: {:?}", outcome.wrong_rounds);
    for kind in [Delivered::UserWithSecret, Delivered::UserWithAttribute] {
        assert!(
            outcome.wrong(kind) >= DUPLICATE_ROUNDS / 2,
            "{kind:?}: only {} of {DUPLICATE_ROUNDS} rounds went wrong: {outcome:#?}",
            outcome.wrong(kind)
        );
    }
}

#[tokio::test]
async fn with_a_turn_on_the_resource_one_event_delivered_twice_leaves_one_of_everything() {
    // GIVEN two function processes taking turns in the lock bucket, and key and secret
    // creations that take a moment
    let stage = Stage::new().await;
    stage
        .proxy
        .break_("CreateAccessKey", Fault::Delay(KEY_CALLS_TAKE))
        .break_("CreateSecret", Fault::Delay(KEY_CALLS_TAKE));
    let lock = Some(stage.lock_bucket.as_str());
    let first = FunctionProcess::start(&stage.proxy.endpoint, lock, "twice-locked-1").await;
    let second = FunctionProcess::start(&stage.proxy.endpoint, lock, "twice-locked-2").await;

    // WHEN the same Create event reaches both at once, round after round
    let outcome = one_event_delivered_to_both(&first, &second, &stage.direct).await;

    // THEN every round left what one delivery leaves: one user and one key (in the
    // secret, or in both answers), one role and one grant; both answers SUCCESS, alike
    eprintln!("with a turn on the resource: {:?}", outcome.wrong_rounds);
    assert!(outcome.findings.is_empty(), "{outcome:#?}");
    // ... and every turn on a resource was given back
    let leases = stage
        .direct
        .s3
        .list_objects_v2()
        .bucket(&stage.lock_bucket)
        .prefix("turns/resource/")
        .send()
        .await
        .expect("the lock bucket listed");
    assert_eq!(leases.contents().len(), 0, "{leases:?}");
}
