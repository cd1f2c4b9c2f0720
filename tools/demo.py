#!/usr/bin/env python3
"""`make demo`: drive the vendor-access function end to end on this machine.

What runs, all on 127.0.0.1 and all stopped again at the end:
  * moto_server, standing in for IAM, S3, KMS and Secrets Manager;
  * a small HTTP server standing in for CloudFormation's pre-signed S3 ResponseURLs;
  * `cargo lambda watch`, which runs the vendor-access binary behind a local Lambda
    runtime API, exactly as Lambda would.

Every directory under events/ is a scenario (one stack); every *.json file in it is one
CloudFormation custom-resource event, sent in sorted order. Event files may use these
placeholders inside strings:

  ${ResponseURL}                a fresh response URL for this event
  ${StackId}                    one stack ARN per scenario
  ${RequestId}                  a fresh UUID
  ${AccountId}, ${Region}       123456789012, us-east-1
  ${PhysicalResourceId:<LogicalResourceId>}
                                the physical id of the latest response for that logical id
                                in this scenario (a FAILED Create's marker id counts)
  ${<Name>}                     anything the scenario's setup hook returned

and two top-level fields that are removed before sending:

  "_demo":   one line saying what the event shows
  "_expect": "SUCCESS" or "FAILED"; any other status fails the demo

To add a scenario: create events/<NN-name>/ with its events, and, if it needs AWS state
before it runs or should show AWS state after each event, add one entry to SCENARIOS
below with a setup and/or a state function.

Usage: tools/demo.py [SCENARIO ...]    (default: every scenario under events/)
Only the standard library and boto3 are used.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"
WORK_DIR = ROOT / ".tmp" / "demo"

FUNCTION = "vendor-access"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

# How long one event may take, from the moment the function is running, until its
# response arrives.
EVENT_TIMEOUT = 60.0
# How long the first event may additionally wait for `cargo run` (inside cargo lambda)
# to start the function; it may have to wait for the cargo lock or compile.
STARTUP_TIMEOUT = 900.0
SERVICE_TIMEOUT = 60.0

# What the demo's deployer allows (template.yaml's guardrail parameters): the demo's
# buckets, every catalog vendor, and the account standing in for Kolena's.
ALLOWED_BUCKETS = "demo-*"
ALLOWED_TRUSTED_PRINCIPALS = "111122223333"

# The permissions boundary the function attaches to every role and user it creates,
# made in moto before the function starts. Mirrors PermissionsBoundaryPolicy in
# template.yaml for AllowedBuckets=demo-*.
BOUNDARY_NAME = "vendor-access-permissions-boundary"
BOUNDARY_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ListAllowedBuckets",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": "arn:aws:s3:::demo-*",
            "Condition": {"StringEquals": {"aws:ResourceAccount": "123456789012"}},
        },
        {
            "Sid": "ObjectsOfAllowedBuckets",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject"],
            "Resource": "arn:aws:s3:::demo-*/*",
            "Condition": {"StringEquals": {"aws:ResourceAccount": "123456789012"}},
        },
        {
            "Sid": "KmsThroughS3",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "arn:aws:kms:us-east-1:123456789012:key/*",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
        },
    ],
}

WIDTH = 100
INDENT = "   "

# --------------------------------------------------------------------------------------
# Scenarios: setup and state hooks, keyed by the directory name under events/.
#
# setup(ctx) runs once before the scenario's first event and may return a dict of extra
#   placeholders, e.g. {"KmsKeyArn": arn}.
# state(ctx) runs after each event of the scenario and prints the AWS state that matters,
#   usually through the show_* helpers below.
# ctx.client("iam") gives a boto3 client pointed at moto.
# --------------------------------------------------------------------------------------


@dataclass
class Scenario:
    title: str = ""
    setup: Optional[Callable[["Context"], Optional[dict]]] = None
    state: Optional[Callable[["Context"], None]] = None


def protocol_state(ctx: "Context") -> None:
    # None of these events may create anything.
    show_roles(ctx)


SCENARIOS: dict[str, Scenario] = {
    "00-protocol": Scenario(
        "The custom-resource protocol itself: every request gets exactly one answer, "
        "even for a type this function does not serve, and a Delete of something it "
        "never made touches nothing.",
        state=protocol_state,
    ),
    "10-lightly": Scenario(
        "Lightly, S3 delegated access: separate input (read) and output (read-write) roles "
        "that Lightly's account assumes with an external id, for 12-hour sessions.",
        setup=lambda ctx: {"Bucket": make_bucket(ctx, "demo-lightly-datalake")},
        state=lambda ctx: show_roles(ctx),
    ),
    "15-guardrails": Scenario(
        "The deployer's guardrails: what a stack author may ask for through the ServiceToken "
        "is limited to the allowed buckets, vendors and principals. Attacks and a permitted "
        "request side by side.",
        setup=lambda ctx: {"Bucket": make_bucket(ctx, "demo-guarded-data"),
                           "_payroll": make_bucket(ctx, "payroll-prod")},
        state=lambda ctx: (show_roles(ctx), show_bucket(ctx, "demo-guarded-data")),
    ),
    "20-activeloop": Scenario(
        "Activeloop Deep Lake, role-based access to buckets encrypted with customer-managed "
        "KMS keys: the function finds each bucket's key and gives the role what that key "
        "honours.",
        setup=lambda ctx: activeloop_setup(ctx),
        state=lambda ctx: activeloop_state(ctx),
    ),
    "25-kolena": Scenario(
        "Kolena: a read-only role for the principal Kolena supplies, plus read on Kolena's "
        "public datasets bucket.",
        setup=lambda ctx: {
            "Bucket": make_bucket(ctx, "demo-share-with-kolena"),
            "KolenaAccount": "111122223333",
        },
        state=lambda ctx: show_roles(ctx),
    ),
    "30-bucket-merge": Scenario(
        "A bucket that already has a policy and CORS rules of its own gets Kolena's CORS rule "
        "and a network fence merged in; after the deletes it is exactly as before.",
        setup=lambda ctx: bucket_merge_setup(ctx),
        state=lambda ctx: bucket_merge_state(ctx),
    ),
    "35-wandb": Scenario(
        "Weights & Biases, a bucket-policy vendor: its role gets statements in the bucket's own "
        "policy and its CORS rule, beside what the bucket had; after the deletes the bucket is "
        "as before.",
        setup=lambda ctx: wandb_setup(ctx),
        state=lambda ctx: show_bucket(ctx, WANDB_BUCKET),
    ),
    "40-lightly-user": Scenario(
        "Lightly, S3 IAM user access: an IAM user with an access key, for vendors that "
        "take keys instead of assuming a role. Secret values are never printed.",
        setup=lambda ctx: {"Bucket": make_bucket(ctx, "demo-lightly-user-datalake")},
        state=lambda ctx: (show_users(ctx), show_secrets(ctx)),
    ),
    "45-snowflake-two-step": Scenario(
        "Snowflake, a two-step vendor: the role exists before Snowflake's user and external id "
        "do, trusting only itself; an Update with the values from DESC INTEGRATION completes it.",
        setup=lambda ctx: {"Bucket": make_bucket(ctx, "demo-snowflake-stage")},
        state=lambda ctx: show_roles(ctx),
    ),
}


WANDB_BUCKET = "demo-wandb-artifacts"


def wandb_setup(ctx: "Context") -> dict:
    make_bucket(ctx, WANDB_BUCKET)
    arn = f"arn:aws:s3:::{WANDB_BUCKET}"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    ctx.client("s3").put_bucket_policy(Bucket=WANDB_BUCKET, Policy=json.dumps(policy))
    ctx.say("Before any event, the bucket's own policy:")
    show_bucket(ctx, WANDB_BUCKET)
    return {"Bucket": WANDB_BUCKET}


SHARED_BUCKET = "demo-shared-data"


def bucket_merge_setup(ctx: "Context") -> dict:
    s3 = ctx.client("s3")
    make_bucket(ctx, SHARED_BUCKET)
    arn = f"arn:aws:s3:::{SHARED_BUCKET}"
    policy = {"Version": "2012-10-17", "Id": "CustomerPolicy", "Statement": [
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "AnalyticsRead", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/analytics"},
         "Action": ["s3:GetObject"], "Resource": f"{arn}/reports/*"}]}
    rules = [
        {"ID": "website", "AllowedOrigins": ["https://www.example.com"],
         "AllowedMethods": ["GET", "HEAD"], "AllowedHeaders": ["Authorization"],
         "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000},
        {"AllowedOrigins": ["*"], "AllowedMethods": ["PUT"]},
    ]
    s3.put_bucket_policy(Bucket=SHARED_BUCKET, Policy=json.dumps(policy))
    s3.put_bucket_cors(Bucket=SHARED_BUCKET, CORSConfiguration={"CORSRules": rules})
    ctx.placeholders["_original"] = bucket_documents(ctx)
    ctx.say("Before any event, the customer's own documents:")
    show_bucket(ctx, SHARED_BUCKET)
    return {}


def bucket_documents(ctx: "Context") -> tuple:
    s3 = ctx.client("s3")
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=SHARED_BUCKET)["Policy"])
    except s3.exceptions.ClientError:
        policy = None
    try:
        cors = s3.get_bucket_cors(Bucket=SHARED_BUCKET)["CORSRules"]
    except s3.exceptions.ClientError:
        cors = None
    return policy, cors


def bucket_merge_state(ctx: "Context") -> None:
    show_bucket(ctx, SHARED_BUCKET)
    policy, cors = bucket_documents(ctx)
    original_policy, original_cors = ctx.placeholders["_original"]
    ctx.field("Policy as before", "yes" if policy == original_policy else "no (ours merged in)")
    ctx.field("CORS as before", "yes" if cors == original_cors else "no (ours merged in)")


def make_bucket(ctx: "Context", name: str, key_arn: Optional[str] = None) -> str:
    """A bucket in moto, encrypted with `key_arn` by default when given."""
    s3 = ctx.client("s3")
    s3.create_bucket(Bucket=name)
    if key_arn:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}]},
        )
    return name


def activeloop_setup(ctx: "Context") -> dict:
    kms = ctx.client("kms")
    # KMS's default key policy delegates to the account: IAM policies can grant its use.
    delegating = kms.create_key(Description="demo: default key policy")["KeyMetadata"]["Arn"]
    # This one names only a key administrator: only a grant lets the vendor role use it.
    closed_policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "KeyAdministrators", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/key-admin"},
        "Action": "kms:*", "Resource": "*"}]}
    closed = kms.create_key(Description="demo: closed key policy",
                            Policy=json.dumps(closed_policy))["KeyMetadata"]["Arn"]
    ctx.placeholders["ClosedKeyArn"] = closed
    return {
        "DelegatingBucket": make_bucket(ctx, "demo-activeloop-delegating-key", delegating),
        "ClosedBucket": make_bucket(ctx, "demo-activeloop-closed-key", closed),
    }


def activeloop_state(ctx: "Context") -> None:
    show_roles(ctx)
    show_kms_grants(ctx, ctx.placeholders["ClosedKeyArn"])


# --------------------------------------------------------------------------------------
# Helpers for state hooks. They print; they never print secret values.
# --------------------------------------------------------------------------------------


def show_roles(ctx: "Context", path_prefix: str = "/vendor-access/") -> None:
    """Every IAM role under `path_prefix`, with its trust and inline policies."""
    iam = ctx.client("iam")
    roles = [
        role
        for page in iam.get_paginator("list_roles").paginate(PathPrefix=path_prefix)
        for role in page["Roles"]
    ]
    if not roles:
        ctx.say(f"IAM roles under {path_prefix}: none")
        return
    for summary in sorted(roles, key=lambda r: r["RoleName"]):
        role = iam.get_role(RoleName=summary["RoleName"])["Role"]
        ctx.say(f"IAM role {role['RoleName']}")
        ctx.field("Arn", role["Arn"], depth=1)
        ctx.field("Path", role["Path"], depth=1)
        ctx.field("MaxSessionDuration", f"{role.get('MaxSessionDuration', 3600)} s", depth=1)
        boundary = role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        if boundary:
            ctx.field("PermissionsBoundary", boundary, depth=1)
        if role.get("Description"):
            ctx.field("Description", role["Description"], depth=1)
        ctx.field("Tags", _tags(role.get("Tags", [])), depth=1)
        ctx.document("Trust policy", role.get("AssumeRolePolicyDocument"), depth=1)
        name = role["RoleName"]
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            ctx.document(f"Inline policy {policy}", document, depth=1)
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        if attached:
            ctx.field("Managed policies", ", ".join(p["PolicyName"] for p in attached), depth=1)


def show_users(ctx: "Context", path_prefix: str = "/vendor-access/") -> None:
    """Every IAM user under `path_prefix`: keys (ids and status only) and inline policies."""
    iam = ctx.client("iam")
    users = [
        user
        for page in iam.get_paginator("list_users").paginate(PathPrefix=path_prefix)
        for user in page["Users"]
    ]
    if not users:
        ctx.say(f"IAM users under {path_prefix}: none")
        return
    for summary in sorted(users, key=lambda u: u["UserName"]):
        name = summary["UserName"]
        user = iam.get_user(UserName=name)["User"]
        ctx.say(f"IAM user {name}")
        ctx.field("Arn", user["Arn"], depth=1)
        ctx.field("Path", user["Path"], depth=1)
        boundary = user.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        if boundary:
            ctx.field("PermissionsBoundary", boundary, depth=1)
        ctx.field("Tags", _tags(iam.list_user_tags(UserName=name).get("Tags", [])), depth=1)
        keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        ctx.field(
            "Access keys",
            ", ".join(f"{k['AccessKeyId']} ({k['Status']})" for k in keys) or "none",
            depth=1,
        )
        for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
            document = iam.get_user_policy(UserName=name, PolicyName=policy)["PolicyDocument"]
            ctx.document(f"Inline policy {policy}", document, depth=1)


def show_bucket(ctx: "Context", bucket: str) -> None:
    """A bucket's policy and CORS configuration."""
    s3 = ctx.client("s3")
    ctx.say(f"S3 bucket {bucket}")
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        ctx.document("Bucket policy", policy, depth=1)
    except s3.exceptions.ClientError as error:
        ctx.field("Bucket policy", _missing(error, "NoSuchBucketPolicy", "none"), depth=1)
    try:
        rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        ctx.document("CORS rules", rules, depth=1)
    except s3.exceptions.ClientError as error:
        ctx.field("CORS rules", _missing(error, "NoSuchCORSConfiguration", "none"), depth=1)


def show_secrets(ctx: "Context") -> None:
    """Secrets Manager secrets: names and tags only, never values."""
    sm = ctx.client("secretsmanager")
    secrets = [s for page in sm.get_paginator("list_secrets").paginate() for s in page["SecretList"]]
    if not secrets:
        ctx.say("Secrets Manager secrets: none")
    for secret in sorted(secrets, key=lambda s: s["Name"]):
        ctx.say(f"secret {secret['Name']}")
        ctx.field("Arn", secret["ARN"], depth=1)
        ctx.field("Tags", _tags(secret.get("Tags", [])), depth=1)


def show_kms_grants(ctx: "Context", key_id: str) -> None:
    """The grants on one KMS key."""
    grants = ctx.client("kms").list_grants(KeyId=key_id)["Grants"]
    if not grants:
        ctx.say(f"KMS grants on {key_id}: none")
    for grant in grants:
        ctx.say(f"KMS grant {grant.get('Name') or grant['GrantId']} on {key_id}")
        ctx.field("Grantee", grant.get("GranteePrincipal", ""), depth=1)
        ctx.field("Operations", ", ".join(grant.get("Operations", [])), depth=1)


def _tags(tags: list) -> str:
    """One tag per line: owner tags are long."""
    return "\n".join(f"{t['Key']}={t['Value']}" for t in tags) or "none"


def _missing(error: Exception, code: str, text: str) -> str:
    if getattr(error, "response", {}).get("Error", {}).get("Code") == code:
        return text
    raise error


# --------------------------------------------------------------------------------------
# The machinery. Nothing below needs to change to add a scenario.
# --------------------------------------------------------------------------------------


class DemoError(Exception):
    """Something the demo cannot go on from."""


class Context:
    """What a hook sees of the scenario being run."""

    def __init__(self, name: str, aws: "Aws"):
        self.name = name
        self.stack_name = f"demo-{name}"
        self.stack_id = (
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{self.stack_name}/{uuid.uuid4()}"
        )
        self.placeholders: dict[str, str] = {}
        # LogicalResourceId -> the physical id of the latest response for it.
        self.physical_ids: dict[str, str] = {}
        # Responses so far, in order: (event file name, response body as a dict).
        self.responses: list[tuple[str, dict]] = []
        self._aws = aws

    def client(self, service: str):
        return self._aws.client(service)

    # Printing, indented under the current event.
    def say(self, text: str, depth: int = 0) -> None:
        print(INDENT * (2 + depth) + text)

    def field(self, label: str, value: str, depth: int = 0) -> None:
        field_line(label, value, depth=2 + depth)

    def document(self, label: str, document: Any, depth: int = 0) -> None:
        print_document(label, document, depth=2 + depth)


class Aws:
    """boto3 clients pointed at moto, with fake credentials."""

    def __init__(self, endpoint: str):
        import boto3  # imported here so that --help works without the virtualenv

        self._session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=REGION,
        )
        self._endpoint = endpoint
        self._clients: dict[str, Any] = {}

    def client(self, service: str):
        if service not in self._clients:
            from botocore.config import Config

            config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
            self._clients[service] = self._session.client(
                service, endpoint_url=self._endpoint, config=config
            )
        return self._clients[service]


# ---- output --------------------------------------------------------------------------


def wrap(text: str, first: str, rest: str) -> str:
    return textwrap.fill(
        text, width=WIDTH, initial_indent=first, subsequent_indent=rest,
        break_long_words=False, break_on_hyphens=False,
    )


def field_line(label: str, value: str, depth: int) -> None:
    prefix = INDENT * depth + f"{label + ':':<22}"
    value = str(value)
    if "\n" in value:
        print(prefix.rstrip())
        for line in value.splitlines():
            print(INDENT * (depth + 1) + line)
    else:
        print(wrap(value, prefix, " " * len(prefix)) if value else prefix.rstrip())


def print_document(label: str, document: Any, depth: int) -> None:
    if isinstance(document, str):
        try:
            document = json.loads(urllib.parse.unquote(document))
        except ValueError:
            pass
    print(INDENT * depth + f"{label}:")
    text = document if isinstance(document, str) else pretty_json(document)
    for line in text.splitlines():
        print(INDENT * (depth + 1) + line)


def pretty_json(value: Any, indent: int = 0, lead: int = 0, width: int = 88) -> str:
    """JSON indented like json.dumps(indent=2), but with any list or object that fits on
    its line kept on one line, so that policies stay short enough to read. `lead` is how
    many characters precede the value on its first line."""
    flat = json.dumps(value)
    if not isinstance(value, (dict, list)) or not value or indent + lead + len(flat) <= width:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {pretty_json(v, indent + 2, len(json.dumps(k)) + 2, width)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + pretty_json(v, indent + 2, 0, width) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PRESIGNED = re.compile(r"\?X-Amz-[^\s\"'<>]*")
# The lambda runtime's span on every line, which says nothing the demo needs.
RUNTIME_SPAN = re.compile(r"Lambda runtime invoke\{[^}]*\}:")


def redact(text: str) -> str:
    """Strips colours and any pre-signed query string (the ResponseURL's credentials)."""
    return PRESIGNED.sub("?<redacted>", ANSI.sub("", text))


# Known causes of a failure, recognised in the function's log: (log text, explanation).
HINTS = [
    (
        "no attempt fitted before the deadline",
        "the function thinks its Lambda deadline has passed. cargo lambda watch sends "
        "Lambda-Runtime-Deadline-Ms: 600000 (ten minutes as a duration) where Lambda sends "
        "an epoch time in milliseconds; the function must read such a value as 'no usable "
        "deadline' or as a duration (src/lambda.rs).",
    ),
]


# ---- the services --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool(name: str) -> str:
    """A tool from this virtualenv, else from PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise DemoError(f"{name} not found: run `make tools` (or use `make demo`)")
    return found


class Catcher:
    """Stands in for CloudFormation's ResponseURLs: records every PUT, answers 200."""

    def __init__(self):
        self.received: dict[str, list[dict]] = {}
        self.changed = threading.Condition()
        catcher = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                length = self.headers.get("Content-Length")
                body = self.rfile.read(int(length)) if length is not None else b""
                path = self.path.split("?", 1)[0]
                with catcher.changed:
                    catcher.received.setdefault(path, []).append(
                        {"body": body, "headers": dict(self.headers.items())}
                    )
                    catcher.changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet: this would print the query string
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def new_url(self, path: str) -> tuple[str, str]:
        """A fresh URL shaped like a pre-signed S3 URL. Returns (url, path)."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        query = urllib.parse.urlencode({
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Date": stamp,
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Expires": "7199",
            "X-Amz-Credential": f"AKIADEMODEMODEMO/{stamp[:8]}/{REGION}/s3/aws4_request",
            "X-Amz-Signature": uuid.uuid4().hex + uuid.uuid4().hex,
        })
        return f"http://127.0.0.1:{self.port}{path}?{query}", path

    def puts(self, path: str) -> list[dict]:
        with self.changed:
            return list(self.received.get(path, []))


class Process:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: Optional[dict] = None):
        self.name = name
        self.log = log
        self._log_file = open(log, "wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            env=env, cwd=ROOT, start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_text(self, since: int = 0) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL whatever is left of it and of its descendants
        (some may have moved to process groups of their own)."""
        descendants = _descendants(self.proc.pid)
        pgid = self.proc.pid
        if self.alive():
            _signal_group(pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(pgid, signal.SIGKILL)
        for pid, started in descendants:
            if _start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._log_file.close()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


def _stat(pid: int) -> Optional[list[str]]:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the state on


def _start_time(pid: int) -> Optional[str]:
    fields = _stat(pid)
    return fields[19] if fields and fields[0] != "Z" else None


def _descendants(root: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live descendant of `root`; empty without /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*") if Path("/proc").is_dir() else []:
        fields = _stat(int(entry.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            started = _start_time(child)
            if started:
                found.append((child, started))
            todo.append(child)
    return found


def wait_until(what: str, ready: Callable[[], bool], process: Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not process.alive():
            raise DemoError(f"{what}: {process.name} exited", process)
        if time.monotonic() > deadline:
            raise DemoError(f"{what}: no answer after {timeout:.0f} s", process)
        time.sleep(0.2)


def http_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without any AWS settings of the user's (no real profile or
    credentials can leak into the demo), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


# ---- one event -----------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)(?::([^}]*))?\}")


def substitute(value: Any, lookup: Callable[[str, Optional[str]], str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: lookup(m.group(1), m.group(2)), value)
    if isinstance(value, list):
        return [substitute(v, lookup) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, lookup) for k, v in value.items()}
    return value


@dataclass
class Outcome:
    name: str
    sent: bool = False
    answered: bool = False
    as_expected: bool = False


@dataclass
class Demo:
    catcher: Catcher
    function: Process
    invoke_port: int
    aws: Aws
    event_timeout: float
    function_running: bool = False
    outcomes: list[Outcome] = field(default_factory=list)

    # -- scenarios --

    def run_scenario(self, directory: Path) -> None:
        name = directory.name
        scenario = SCENARIOS.get(name, Scenario())
        events = sorted(directory.glob("*.json"))
        print()
        print(f"== {name} " + "=" * max(3, WIDTH - len(name) - 4))
        if scenario.title:
            print(wrap(scenario.title, INDENT, INDENT))
        ctx = Context(name, self.aws)
        if scenario.setup:
            try:
                ctx.placeholders.update(scenario.setup(ctx) or {})
            except Exception as error:  # a broken hook fails its scenario, not the demo
                print(f"{INDENT}! setup of {name} failed: {error!r}; its events are skipped")
                self.outcomes += [Outcome(f"{name}/{e.name}") for e in events]
                return
        if not events:
            print(f"{INDENT}(no events)")
        for path in events:
            self.run_event(ctx, scenario, path)

    def run_event(self, ctx: Context, scenario: Scenario, path: Path) -> None:
        outcome = Outcome(f"{ctx.name}/{path.name}")
        self.outcomes.append(outcome)
        print()
        try:
            event = json.loads(path.read_text())
            if not isinstance(event, dict):
                raise ValueError("the file must hold a JSON object")
        except ValueError as error:
            print(f"-- {path.stem}\n{INDENT}! cannot read {path.name}: {error}")
            return
        why = event.pop("_demo", "")
        expect = event.pop("_expect", None)
        url, url_path = self.catcher.new_url(
            f"/cloudformation-custom-resource-response/{ctx.stack_name}/{path.stem}/{uuid.uuid4()}"
        )
        request_id = str(uuid.uuid4())

        def lookup(key: str, arg: Optional[str]) -> str:
            if key == "PhysicalResourceId" and arg is not None:
                if arg not in ctx.physical_ids:
                    raise DemoError(f"${{PhysicalResourceId:{arg}}}: no response for {arg} yet")
                return ctx.physical_ids[arg]
            fixed = {
                "ResponseURL": url, "StackId": ctx.stack_id, "RequestId": request_id,
                "AccountId": ACCOUNT_ID, "Region": REGION,
            }
            if arg is None and key in fixed:
                return fixed[key]
            if arg is None and key in ctx.placeholders:
                return str(ctx.placeholders[key])
            raise DemoError(f"unknown placeholder ${{{key}{':' + arg if arg else ''}}}")

        request_type = event.get("RequestType", "?")
        resource_type = event.get("ResourceType", "?")
        print(f"-- {path.stem}: {request_type} {resource_type}, logical id "
              f"{event.get('LogicalResourceId', '?')}")
        if why:
            print(wrap(why, INDENT + "why: ", INDENT + "     "))
        try:
            event = substitute(event, lookup)
        except DemoError as error:
            print(f"{INDENT}! cannot send {path.name}: {error}")
            return
        if expect not in (None, "SUCCESS", "FAILED"):
            print(f"{INDENT}! {path.name}: _expect must be SUCCESS or FAILED, not {expect!r}")
            return

        log_mark = self.function.log_size()
        outcome.sent = True
        put, problems = self.invoke(event, url_path)
        if put is None:
            print(f"{INDENT}! no response: {problems[0]}")
            self.show_log(log_mark)
            return
        outcome.answered = True
        response, body_problems = check_response(event, put)
        problems += body_problems
        print(f"{INDENT}CloudFormation sees:")
        status = response.get("Status", "?")
        verdict = ""
        if expect:
            verdict = "  (as expected)" if status == expect else f"  (! expected {expect})"
            if status != expect:
                problems.append(f"the event file expects {expect}, the function answered {status}")
        field_line("Status", f"{status}{verdict}", depth=2)
        if "Reason" in response:
            field_line("Reason", response["Reason"], depth=2)
        field_line("PhysicalResourceId", response.get("PhysicalResourceId", ""), depth=2)
        data = response.get("Data") or {}
        if data:
            masked = bool(response.get("NoEcho"))
            print(INDENT * 2 + "Data:" + ("  (NoEcho: masked)" if masked else ""))
            for key, value in data.items():
                shown = "****" if masked else (value if isinstance(value, str) else json.dumps(value))
                shown = shown if shown != "" else "(empty)"
                field_line(key, shown, depth=3)
        logical_id = event.get("LogicalResourceId")
        if logical_id and response.get("PhysicalResourceId"):
            ctx.physical_ids[logical_id] = response["PhysicalResourceId"]
        ctx.responses.append((path.name, response))
        if scenario.state:
            print(f"{INDENT}AWS now:")
            try:
                scenario.state(ctx)
            except Exception as error:
                problems.append(f"the state hook failed: {error!r}")
        for problem in problems:
            print(f"{INDENT}! {problem}")
        if problems:
            self.show_log(log_mark)
        outcome.as_expected = not problems

    def invoke(self, event: dict, url_path: str) -> tuple[Optional[dict], list[str]]:
        """Sends the event through cargo lambda and waits for its PUT. Returns the PUT
        (None when none came) and any problems seen."""
        result: dict[str, Any] = {}

        def post() -> None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.invoke_port}/2015-03-31/functions/{FUNCTION}/invocations",
                data=json.dumps(event).encode(), method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=STARTUP_TIMEOUT + 600) as reply:
                    result["reply"] = (reply.status, reply.read())
            except urllib.error.HTTPError as error:
                result["reply"] = (error.code, error.read())
            except OSError as error:
                result["error"] = error

        sender = threading.Thread(target=post, daemon=True)
        sender.start()
        started = time.monotonic()
        told = False
        while True:
            puts = self.catcher.puts(url_path)
            done = not sender.is_alive()
            if puts and done:
                break
            if done and "error" in result:
                return None, [f"the invoke request failed: {result['error']}"]
            if not self.function.alive():
                return None, ["cargo lambda watch exited"]
            now = time.monotonic()
            if not self.function_running:
                # The first event also waits for `cargo run` to start the function.
                if done or puts or "Running `" in self.function.log_text():
                    self.function_running = True
                    started = now
                elif now - started > STARTUP_TIMEOUT:
                    return None, [f"the function did not start within {STARTUP_TIMEOUT:.0f} s"]
                elif not told and now - started > 5:
                    print(f"{INDENT}(waiting for cargo lambda to start the function: "
                          "cargo run may be compiling or waiting for the cargo lock)")
                    told = True
            elif now - started > self.event_timeout:
                if puts:
                    return puts[0], ["the invocation did not return after the response was sent"]
                return None, [f"nothing was PUT to the ResponseURL within {self.event_timeout:.0f} s"]
            if done and now - result.setdefault("returned", now) > 5:
                # The function returned; a late PUT had 5 s to arrive.
                return None, ["the function returned without a PUT to the ResponseURL"]
            time.sleep(0.05)
        problems = []
        status, body = result["reply"]
        if status != 200 or body.strip() != b"null":
            problems.append(f"the invocation returned HTTP {status}: {redact(body.decode(errors='replace'))[:300]}")
        time.sleep(0.1)  # a second PUT would be a protocol error; catch one that follows fast
        puts = self.catcher.puts(url_path)
        if len(puts) > 1:
            problems.append(f"the ResponseURL received {len(puts)} PUTs, not exactly one")
        return puts[0], problems

    def show_log(self, since: int) -> None:
        text = self.function.log_text(since)
        lines = [RUNTIME_SPAN.sub("", redact(line)) for line in text.splitlines() if line.strip()]
        if not lines:
            return
        for needle, hint in HINTS:
            if needle in text:
                print(wrap(hint, f"{INDENT}hint: ", INDENT + " " * 6))
        shown = lines[-40:]
        print(f"{INDENT}function log ({self.function.log}):")
        if len(lines) > len(shown):
            print(f"{INDENT * 2}[... {len(lines) - len(shown)} earlier lines]")
        for line in shown:
            print(INDENT * 2 + line)


def check_response(event: dict, put: dict) -> tuple[dict, list[str]]:
    """The response body as a dict, and whatever in it breaks the protocol."""
    problems = []
    body, headers = put["body"], {k.lower(): v for k, v in put["headers"].items()}
    if headers.get("content-type", "") != "":
        problems.append(f"Content-Type is {headers['content-type']!r}, not empty")
    if "content-length" not in headers:
        problems.append("the PUT had no Content-Length")
    if len(body) > 4096:
        problems.append(f"the body is {len(body)} bytes, over CloudFormation's 4096")
    try:
        response = json.loads(body)
        if not isinstance(response, dict):
            raise ValueError("not an object")
    except ValueError as error:
        return {"Status": "?"}, problems + [f"the body is not a JSON object: {error}"]
    if response.get("Status") not in ("SUCCESS", "FAILED"):
        problems.append(f"Status is {response.get('Status')!r}")
    if response.get("Status") == "FAILED" and not response.get("Reason"):
        problems.append("a FAILED response without a Reason")
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        if response.get(key) != event.get(key):
            problems.append(f"{key} is {response.get(key)!r}, not the request's")
    physical_id = response.get("PhysicalResourceId")
    if not isinstance(physical_id, str) or not physical_id:
        problems.append("PhysicalResourceId is missing or empty")
    elif event.get("RequestType") == "Delete" and physical_id != event.get("PhysicalResourceId"):
        problems.append("a Delete changed the PhysicalResourceId")
    return response, problems


# ---- main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Run the vendor-access function against moto, one CloudFormation event "
        "at a time, and show what CloudFormation would see.",
    )
    parser.add_argument("scenarios", nargs="*", help="scenario directories under events/ (default: all)")
    parser.add_argument("--timeout", type=float, default=EVENT_TIMEOUT,
                        help=f"seconds one event may take (default {EVENT_TIMEOUT:.0f})")
    args = parser.parse_args()

    directories = sorted(d for d in EVENTS_DIR.iterdir() if d.is_dir() and not d.name.startswith((".", "_")))
    if args.scenarios:
        wanted = {Path(s).name for s in args.scenarios}
        unknown = wanted - {d.name for d in directories}
        if unknown:
            print(f"demo: no such scenario under events/: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        directories = [d for d in directories if d.name in wanted]

    # A SIGTERM (e.g. from make or CI) cleans up like Ctrl-C does.
    def interrupted(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    moto = function = catcher = None
    demo = None
    try:
        moto_port, invoke_port = free_port(), free_port()
        moto = Process("moto_server", [tool("moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                       WORK_DIR / "moto.log", env=clean_env({}))
        endpoint = f"http://127.0.0.1:{moto_port}"
        catcher = Catcher()
        catcher.start()
        wait_until("moto", lambda: http_answers(f"{endpoint}/moto-api/"), moto, SERVICE_TIMEOUT)
        aws = Aws(endpoint)
        boundary_arn = aws.client("iam").create_policy(
            PolicyName=BOUNDARY_NAME, Path="/vendor-access/",
            PolicyDocument=json.dumps(BOUNDARY_DOCUMENT),
            Description="Permissions boundary of every role and user vendor-access creates",
        )["Policy"]["Arn"]

        function_env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "VENDOR_ACCESS_ALLOW_HTTP_RESPONSE_URL": "true",
            "VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN": boundary_arn,
            # moto on loopback is a local stand-in: requests are not confirmed with
            # CloudFormation (template.yaml can never set this).
            "VENDOR_ACCESS_LOCAL_STANDIN": "true",
            "VENDOR_ACCESS_ALLOWED_BUCKETS": ALLOWED_BUCKETS,
            "VENDOR_ACCESS_ALLOWED_VENDORS": "*",
            "VENDOR_ACCESS_ALLOWED_TRUSTED_PRINCIPALS": ALLOWED_TRUSTED_PRINCIPALS,
            "AWS_LAMBDA_LOG_LEVEL": "info",
            "NO_COLOR": "1",
        }
        argv = [tool("cargo"), "lambda", "watch", "--ignore-changes", "--color", "never",
                "-A", "127.0.0.1", "-P", str(invoke_port)]
        for key, value in function_env.items():
            argv += ["--env-var", f"{key}={value}"]
        log = WORK_DIR / "cargo-lambda.log"
        function = Process("cargo lambda watch", argv, log, env=clean_env(function_env))

        print("vendor-access demo: CloudFormation custom-resource events, answered by the function")
        print(f"{INDENT}{'AWS (moto)':<12}{endpoint}")
        print(f"{INDENT}{'responses':<12}http://127.0.0.1:{catcher.port}  "
              "(stands in for CloudFormation's pre-signed S3 URLs)")
        print(f"{INDENT}{'function':<12}cargo lambda watch on 127.0.0.1:{invoke_port}")
        print(f"{INDENT}{'its log':<12}{log.relative_to(ROOT)}")
        print(f"{INDENT}{'boundary':<12}{boundary_arn}  (on every role and user it creates)")
        print(f"{INDENT}{'guardrails':<12}AllowedBuckets={ALLOWED_BUCKETS}  AllowedVendors=*  "
              f"AllowedTrustedPrincipals={ALLOWED_TRUSTED_PRINCIPALS}")

        wait_until("cargo lambda watch", lambda: port_open(invoke_port), function, SERVICE_TIMEOUT)

        demo = Demo(catcher, function, invoke_port, aws, args.timeout)
        for directory in directories:
            demo.run_scenario(directory)
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
        return 130
    except DemoError as error:
        print(f"\ndemo: {error.args[0]}", file=sys.stderr)
        process = error.args[1] if len(error.args) > 1 else None
        if process is not None:
            tail = [redact(line) for line in process.log_text().splitlines()[-30:]]
            print(f"{INDENT}{process.name} log ({process.log}):", file=sys.stderr)
            for line in tail:
                print(INDENT * 2 + line, file=sys.stderr)
        return 1
    finally:
        # Finish cleaning up, whatever else arrives.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for process in (function, moto):
            if process is not None:
                process.stop()
        if catcher is not None:
            catcher.stop()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    outcomes = demo.outcomes
    good = [o for o in outcomes if o.as_expected]
    unsent = [o.name for o in outcomes if not o.sent]
    missing = [o.name for o in outcomes if o.sent and not o.answered]
    wrong = [o.name for o in outcomes if o.answered and not o.as_expected]
    print()
    print(f"(took {time.monotonic() - started:.0f} s)")
    if unsent:
        print(f"  not sent: {', '.join(unsent)}")
    if missing:
        print(f"  no response: {', '.join(missing)}")
    if wrong:
        print(f"  not as expected: {', '.join(wrong)}")
    print(f"demo: {len(outcomes)} events, {len(good)} answered as expected")
    return 0 if len(good) == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
