#!/usr/bin/env python3
"""`make bench`: the vendor-access function beside the Python standard (crhelper + boto3),
measured by the same code, under the same local Lambda runtime API, against the same moto.

What runs, all on 127.0.0.1 and all stopped again at the end:
  * moto_server, standing in for IAM, S3 and KMS;
  * an HTTPS server standing in for CloudFormation's pre-signed S3 ResponseURLs (HTTPS
    because crhelper only speaks HTTPS; a throw-away CA made here is added to the system
    bundle, and both functions get that bundle through SSL_CERT_FILE);
  * one local Lambda runtime API per function process (bench/runtime_api.py);
  * for the call counts only, a counting proxy in front of moto (bench/counting_proxy.py);
  * the functions: target/lambda/bench/vendor-access/bootstrap (the x86_64 artifact of
    `make package`), and bench/baseline-python/handler.py run by
    bench/baseline-python/bootstrap.py; target/lambda/bench/bare-runtime/bootstrap
    (bench/bare-runtime/, built the same way)
    for the cold start's floor.

Figures (see bench/README.md for what each one means): cold start (to the first `next`, and
to the first Create answered), the first event after a cold start, per-event latency of
create / no-op update / real update / delete, peak RSS over 200 events, AWS calls per
operation beside the minimum, binary sizes; the makespan of a stack of N resources at once
(bench/stack.py), today's design beside the new one; `plan` beside `--version`. Results are
printed and written to bench/results.md and into bench/README.md, by section (a run of one
part keeps the others' last results). Nothing is asserted: the bench reports, including
every goal it misses.

Usage: bench/bench.py [--quick] [--stack-only] [--cold-only] [--skip-stack] [--skip-arm64] [...]
Standard library, boto3 and cryptography (both come with moto) only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.dont_write_bytecode = True  # no __pycache__ beside the sources in the working tree

import demo  # noqa: E402  (the demo's processes, ResponseURL catcher, moto clients and checks)
from counting_proxy import CountingProxy, is_read  # noqa: E402
from loopback_http import tune  # noqa: E402
from runtime_api import RuntimeApi  # noqa: E402
import stack as stack_bench  # noqa: E402  (the stack-level benchmark, issue 15)

WORK_DIR = ROOT / ".tmp" / "bench"
# What `make bench` builds: the x86_64 artifact `make package` zips, and the bare runtime
# built the same way (cargo lambda, static musl, the release profile).
RUST_BINARY = ROOT / "target" / "lambda" / "bench" / "vendor-access" / "bootstrap"
BARE_BINARY = ROOT / "target" / "lambda" / "bench" / "bare-runtime" / "bootstrap"
ARM64_TARGET = "aarch64-unknown-linux-musl"
LAMBDA_DIR = WORK_DIR / "lambda"
ARM64_BOOTSTRAP = LAMBDA_DIR / "vendor-access" / "bootstrap"
BASELINE_DIR = BENCH_DIR / "baseline-python"
BASELINE_PACKAGE = WORK_DIR / "baseline-python-package"
RESULTS = BENCH_DIR / "results.md"
README = BENCH_DIR / "README.md"
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"

REGION = demo.REGION
BUCKET = "bench-data"
EXTERNAL_ID = "bench-external-id-0123456789"

# The Lambda timeout both functions run under. crhelper sleeps 120 s before answering a
# Delete when more than 135 s are left (its sleep_on_delete); under this timeout it does
# not, so the Delete figures compare the work itself. The template's own Timeout is run
# separately (TEMPLATE_TIMEOUT_S) to show what that sleep costs.
LAMBDA_TIMEOUT_S = 60.0
TEMPLATE_TIMEOUT_S = 300.0

STARTUP_TIMEOUT = 30.0
ARM64_BUILD_TIMEOUT = 3600.0
SETTLE_LIMIT_S = 120.0

GOAL_COLD_START = 0.10
GOAL_COLD_START_BARE = 3.0
GOAL_RSS = 0.20
GOAL_STACK = 2.0
GOAL_PLAN = 2.0


class BenchError(Exception):
    """Something the bench cannot go on from."""


# ---- the two functions -----------------------------------------------------------------


@dataclass
class Function:
    key: str
    label: str
    argv: list[str]
    env: dict[str, str]


def bare_runtime(binary: Path = BARE_BINARY) -> Function:
    """The bare `lambda_runtime` binary (bench/bare-runtime/): the floor of a Rust cold start."""
    return Function("bare", "bare lambda_runtime (echo)", [str(binary)], {})


def functions(boundary_arn: str, binary: Path = RUST_BINARY) -> list[Function]:
    return [
        Function("rust", "Rust (vendor-access)", [str(binary)], {
            "VENDOR_ACCESS_ALLOW_HTTP_RESPONSE_URL": "true",
            "VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN": boundary_arn,
            # moto on loopback: requests are not confirmed with CloudFormation (in AWS each
            # costs one DescribeStackResource more: see bench/README.md); every bucket allowed.
            "VENDOR_ACCESS_LOCAL_STANDIN": "true",
            "VENDOR_ACCESS_ALLOWED_BUCKETS": "*",
        }),
        Function("python", "Python (crhelper + boto3)",
                 [sys.executable, str(BASELINE_DIR / "bootstrap.py")], {
            "_HANDLER": "handler.handler",
            "PYTHONPATH": os.pathsep.join([str(BASELINE_DIR), str(BASELINE_PACKAGE)]),
            # As in Lambda, where the code directory is read-only: handler.py is compiled at
            # every start; the packages' bytecode was compiled when they were installed.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PERMISSIONS_BOUNDARY_ARN": boundary_arn,
        }),
    ]


def lambda_env(endpoint: str, ca_bundle: Path) -> dict[str, str]:
    """What Lambda sets for every function, plus the local AWS endpoint and CA bundle."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "vendor-access",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/vendor-access",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "SSL_CERT_FILE": str(ca_bundle),
        "NO_COLOR": "1",
    }


class Running:
    """One function process with its own runtime API; `cold_start` is the time from
    spawning it to its first request for an event. With `first_event`, that event is
    queued before the process is spawned (as Lambda holds the event that caused a cold
    start), and `first_answer` is the time from spawning to its ResponseURL PUT."""

    def __init__(self, fn: Function, base_env: dict, timeout_s: float, catcher: "demo.Catcher",
                 log_name: str, first_event: Optional[dict] = None):
        self.fn = fn
        self.catcher = catcher
        self.api = RuntimeApi(timeout_s)
        self.event_timeout = timeout_s + 10
        self.first_answer: Optional[float] = None
        self.first_handled: Optional[float] = None
        self.first_response: Optional[dict] = None
        env = demo.clean_env({**base_env, **fn.env, "AWS_LAMBDA_RUNTIME_API": self.api.address})
        self.process: Optional[demo.Process] = None
        try:
            queued = self._queue(first_event) if first_event is not None else None
            spawned = time.perf_counter()
            self.process = demo.Process(fn.label, fn.argv, WORK_DIR / log_name, env=env)
            first = self.api.wait_first_next(STARTUP_TIMEOUT)
            if first is None:
                raise self.error(f"did not ask for an event within {STARTUP_TIMEOUT:.0f} s")
            self.cold_start = first - spawned
            if queued is not None:
                at, self.first_response = self._answered(*queued)
                self.first_answer = at - spawned
                self.first_handled = at - self.api.handed[queued[0]]
        except BaseException:
            self.stop()
            raise

    def invoke(self, event: dict) -> tuple[float, dict]:
        """Hands `event` to the function; returns (seconds from handing it over to the
        ResponseURL PUT arriving, the response body)."""
        request_id, event, path = self._queue(event)
        at, response = self._answered(request_id, event, path)
        return at - self.api.handed[request_id], response

    def _queue(self, event: dict) -> tuple[str, dict, str]:
        url, path = self.catcher.new_url(f"/cloudformation-custom-resource-response/bench/{uuid.uuid4()}")
        event = {**event, "ResponseURL": url.replace("http://", "https://", 1)}
        return self.api.invoke(event), event, path

    def _answered(self, request_id: str, event: dict, path: str) -> tuple[float, dict]:
        """When the ResponseURL PUT of `event` arrived, and its response, checked."""
        with self.catcher.changed:
            arrived = self.catcher.changed.wait_for(
                lambda: path in self.catcher.received, self.event_timeout)
            at = time.perf_counter()
        if not arrived:
            raise self.error(f"nothing was PUT to the ResponseURL within {self.event_timeout:.0f} s")
        response, problems = demo.check_response(event, self.catcher.puts(path)[0])
        if problems:
            raise self.error("the response breaks the protocol: " + "; ".join(problems))
        if self.api.wait_finished(request_id, self.event_timeout) is None:
            raise self.error("the invocation did not finish after its response was sent")
        return at, response

    def memory_kib(self) -> dict[str, int]:
        """VmHWM (peak resident), RssAnon and RssFile of the process, in KiB."""
        status = Path(f"/proc/{self.process.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {key: int(fields[key].split()[0]) for key in ("VmHWM", "RssAnon", "RssFile")}

    def error(self, text: str) -> BenchError:
        log = self.process.log if self.process else None
        tail = ""
        if self.process:
            lines = [demo.redact(line) for line in self.process.log_text().splitlines()[-25:]]
            tail = "\n".join("      " + line for line in lines)
        return BenchError(f"{self.fn.label}: {text}\n   its log ({log}):\n{tail}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self.api.stop()


# ---- the events ------------------------------------------------------------------------


class Events:
    """CloudFormation events for one stack."""

    def __init__(self, stack_name: str):
        self.stack_id = (f"arn:aws:cloudformation:{REGION}:{demo.ACCOUNT_ID}:stack/"
                         f"{stack_name}/{uuid.uuid4()}")

    def event(self, request_type: str, resource_type: str, logical_id: str, properties: dict,
              physical_id: Optional[str] = None, old: Optional[dict] = None) -> dict:
        token = f"arn:aws:lambda:{REGION}:{demo.ACCOUNT_ID}:function:vendor-access"
        event = {
            "RequestType": request_type,
            "ServiceToken": token,
            "StackId": self.stack_id,
            "RequestId": str(uuid.uuid4()),
            "ResourceType": resource_type,
            "LogicalResourceId": logical_id,
            "ResourceProperties": {"ServiceToken": token, **properties},
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old is not None:
            event["OldResourceProperties"] = {"ServiceToken": token, **old}
        return event


LIGHTLY = {"Vendor": "lightly", "ExternalId": EXTERNAL_ID,
           "Locations": [{"Bucket": BUCKET, "Prefix": "lightly/"}]}
LIGHTLY_READ = {**LIGHTLY, "Access": "read"}
ROLE_TYPE = "Custom::VendorS3Access"
CORS_TYPE = "Custom::BucketCors"
CORS = {"Bucket": BUCKET, "Rules": [{"AllowedOrigins": ["https://app.example.com"],
                                     "AllowedMethods": ["GET"]}]}

ROLE_OPS = ["create", "no-op update", "real update", "delete"]
CORS_OPS = ["cors create", "cors delete"]


def succeeded(run: Running, op: str, response: dict) -> dict:
    if response.get("Status") != "SUCCESS":
        raise run.error(f"{op} answered {response.get('Status')}: {response.get('Reason')}")
    return response


def role_cycle(run: Running, events: Events, logical_id: str,
               after: Callable[[str], None] = lambda op: None) -> dict[str, float]:
    """Create, no-op update, real update (Access changed), delete: one role's life.
    Returns the seconds each took; `after(op)` runs once each has been answered."""
    seconds = {}
    physical_id = None
    steps = [
        ("create", "Create", LIGHTLY, None),
        ("no-op update", "Update", LIGHTLY, LIGHTLY),
        ("real update", "Update", LIGHTLY_READ, LIGHTLY),
        ("delete", "Delete", LIGHTLY_READ, None),
    ]
    for op, request_type, properties, old in steps:
        event = events.event(request_type, ROLE_TYPE, logical_id, properties, physical_id, old)
        seconds[op], response = run.invoke(event)
        physical_id = succeeded(run, op, response)["PhysicalResourceId"]
        after(op)
    return seconds


def cors_pair(run: Running, events: Events, logical_id: str,
              after: Callable[[str], None] = lambda op: None) -> tuple[dict[str, float], Optional[str]]:
    """Create then delete one Custom::BucketCors. Returns the seconds each took, and why
    the type could not be measured, if it could not."""
    seconds = {}
    seconds["cors create"], response = run.invoke(events.event("Create", CORS_TYPE, logical_id, CORS))
    if response.get("Status") != "SUCCESS":
        reason = response.get("Reason", "")
        if "unsupported ResourceType" in reason:
            return {}, "not registered in this build"
        return {}, f"create FAILED: {reason}"
    after("cors create")
    event = events.event("Delete", CORS_TYPE, logical_id, CORS, response["PhysicalResourceId"])
    seconds["cors delete"], response = run.invoke(event)
    succeeded(run, "cors delete", response)
    after("cors delete")
    return seconds, None


# ---- measurements ----------------------------------------------------------------------


@dataclass
class Samples:
    """Everything measured for one function."""
    cold_start: list[float] = field(default_factory=list)
    # Handing the first event (a Create) to a fresh process until its ResponseURL PUT.
    first_event: list[float] = field(default_factory=list)
    # Spawning the process until that PUT: start-up and first event together.
    first_answer: list[float] = field(default_factory=list)
    latency: dict[str, list[float]] = field(default_factory=dict)
    peak_rss_kib: list[int] = field(default_factory=list)
    # (anonymous, file-backed) resident KiB at the end of each round, to explain the peak.
    rss_split_kib: list[tuple[int, int]] = field(default_factory=list)
    calls: dict[str, dict[str, int]] = field(default_factory=dict)
    calls_unsteady: list[str] = field(default_factory=list)
    template_delete: list[float] = field(default_factory=list)
    # Why BucketCors was not measured; None when it was.
    cors: Optional[str] = None

    def add(self, op: str, seconds: float) -> None:
        self.latency.setdefault(op, []).append(seconds)


class Bench:
    def __init__(self, args, base_env: dict, counting_env: dict, catcher, fns: list[Function],
                 bare: Function):
        self.args = args
        self.bare = bare
        self.base_env = base_env
        self.counting_env = counting_env
        self.catcher = catcher
        self.fns = fns
        self.samples = {fn.key: Samples() for fn in fns}
        self.runs = 0

    def start(self, fn: Function, timeout_s: float = LAMBDA_TIMEOUT_S,
              env: Optional[dict] = None, first_event: Optional[Callable[["Events"], dict]] = None
              ) -> tuple[Running, Events]:
        self.runs += 1
        name = f"{fn.key}-{self.runs:03d}"
        events = Events(f"bench-{name}")
        run = Running(fn, env or self.base_env, timeout_s, self.catcher, f"{name}.log",
                      first_event(events) if first_event else None)
        return run, events

    def in_turns(self, rounds: int, fns: Optional[list[Function]] = None):
        """(round, function) pairs, alternating which goes first, so that drift in the
        machine or in moto does not favour either."""
        fns = fns or self.fns
        for r in range(rounds):
            for fn in (fns if r % 2 == 0 else list(reversed(fns))):
                yield r, fn

    def cold_starts(self) -> None:
        """Spawn each function with a Create already queued (the event that caused the
        cold start), time its first request for an event and its answer, delete the role,
        stop. The bare runtime is only timed to its first request. Round 0 warms the page
        cache and Python's bytecode cache, and is discarded."""
        for r, fn in self.in_turns(self.args.cold_runs + 1, self.fns + [self.bare]):
            samples = self.samples.setdefault(fn.key, Samples())
            if fn.key == "bare":
                run, _ = self.start(fn)
                memory = run.memory_kib()
                run.stop()
            else:
                run, events = self.start(fn, first_event=lambda events: events.event(
                    "Create", ROLE_TYPE, "FirstEvent", LIGHTLY))
                try:
                    physical_id = succeeded(run, "create", run.first_response)["PhysicalResourceId"]
                    _, response = run.invoke(events.event("Delete", ROLE_TYPE, "FirstEvent", LIGHTLY,
                                                          physical_id))
                    succeeded(run, "delete", response)
                finally:
                    run.stop()
            if r > 0:
                samples.cold_start.append(run.cold_start)
                if fn.key == "bare":
                    samples.peak_rss_kib.append(memory["VmHWM"])
                else:
                    samples.first_event.append(run.first_handled)
                    samples.first_answer.append(run.first_answer)
            progress(f"cold start {r}/{self.args.cold_runs} {fn.key}: {run.cold_start * 1000:.1f} ms"
                     + (f", first Create answered {run.first_answer * 1000:.1f} ms after spawning"
                        if run.first_answer else "")
                     + (" (warm-up, discarded)" if r == 0 else ""))

    def warm_rounds(self) -> None:
        """Per round and function: one process serves `cycles` role lives (4 events each);
        the first is a warm-up, the rest are timed; then its peak RSS is read. BucketCors,
        when the build serves it, is timed after that in the same process."""
        for r, fn in self.in_turns(self.args.rounds):
            samples = self.samples[fn.key]
            run, events = self.start(fn)
            try:
                for cycle in range(self.args.cycles):
                    seconds = role_cycle(run, events, f"LightlyRole{cycle}")
                    if cycle > 0:
                        for op, value in seconds.items():
                            samples.add(op, value)
                memory = run.memory_kib()
                samples.peak_rss_kib.append(memory["VmHWM"])
                samples.rss_split_kib.append((memory["RssAnon"], memory["RssFile"]))
                if fn.key == "rust" and samples.cors is None:
                    for pair in range(self.args.cycles // 2):
                        seconds, samples.cors = cors_pair(run, events, f"Cors{pair}")
                        if samples.cors:
                            break
                        if pair > 0:
                            for op, value in seconds.items():
                                samples.add(op, value)
            finally:
                run.stop()
            progress(f"round {r + 1}/{self.args.rounds} {fn.key}: {4 * self.args.cycles} events, "
                     f"peak RSS {samples.peak_rss_kib[-1] / 1024:.1f} MiB")

    def call_counts(self, proxy: CountingProxy) -> None:
        """Every call each operation makes, through the counting proxy: a first cycle to
        warm up, a second one counted (and compared with the first). Also finds out
        whether this build serves Custom::BucketCors."""
        for fn in self.fns:
            samples = self.samples[fn.key]
            run, events = self.start(fn, env=self.counting_env)
            try:
                counted: list[dict[str, dict[str, int]]] = [{}, {}]
                for cycle in (0, 1):
                    proxy.take()

                    def after(op: str, cycle=cycle) -> None:
                        counted[cycle][op] = dict(proxy.take())

                    role_cycle(run, events, f"CountedRole{cycle}", after)
                    if fn.key == "rust":
                        _, samples.cors = cors_pair(run, events, f"CountedCors{cycle}", after)
                samples.calls = counted[1]
                samples.calls_unsteady = [op for op in counted[1] if counted[0].get(op) != counted[1][op]]
            finally:
                run.stop()
            progress(f"calls counted for {fn.key}")

    def template_timeout_delete(self) -> None:
        """One Delete under the template's Timeout (300 s), where crhelper's default
        sleep_on_delete applies. Python once (it takes two minutes), Rust a few times."""
        for fn in self.fns:
            repeats = 1 if fn.key == "python" else 5
            run, events = self.start(fn, timeout_s=TEMPLATE_TIMEOUT_S)
            try:
                for i in range(repeats):
                    if fn.key == "python":
                        progress("python: a Delete with 300 s left (crhelper sleeps 120 s first)")
                    seconds, response = run.invoke(events.event("Create", ROLE_TYPE, f"Slow{i}", LIGHTLY))
                    physical_id = succeeded(run, "create", response)["PhysicalResourceId"]
                    seconds, response = run.invoke(
                        events.event("Delete", ROLE_TYPE, f"Slow{i}", LIGHTLY, physical_id))
                    succeeded(run, "delete", response)
                    self.samples[fn.key].template_delete.append(seconds)
            finally:
                run.stop()


def progress(text: str) -> None:
    print(f"   {text}", flush=True)


# ---- minimum calls ---------------------------------------------------------------------

# What each operation must read and write, and why; the bench compares the function's
# counted calls with these.
MINIMUM = {
    "create": (1, 2, "read: GetBucketEncryption (KMS detection, and proof the bucket exists); "
                     "write: CreateRole (trust, session length, tags and boundary in one call), "
                     "PutRolePolicy. Adoption of a role a retried Create already made needs "
                     "GetRole only after CreateRole answers EntityAlreadyExists."),
    "no-op update": (3, 0, "read: GetRole (ownership tag, trust, session length), "
                           "GetBucketEncryption (a bucket's KMS key may have changed), "
                           "GetRolePolicy (to repair drift); no write."),
    "real update": (2, 1, "read: GetRole (ownership tag before any change), GetBucketEncryption; "
                          "write: PutRolePolicy. The inline policy differs from the old "
                          "properties' policy, so reading it first cannot save the write."),
    "delete": (1, 2, "read: GetRole (ownership tag; KMS grant tags); write: DeleteRolePolicy "
                     "(its name is known: no ListRolePolicies), DeleteRole."),
    "cors create": (2, 1, "read: GetBucketCors (merge with others' rules), then read back after "
                          "the write (SPEC: re-merge if ours is missing); write: PutBucketCors."),
    "cors delete": (2, 1, "read: GetBucketCors, then read back after the write (a writer that "
                          "read before our write can put our rules back); write: PutBucketCors, or "
                          "DeleteBucketCors when no rule is left."),
}


def split_calls(calls: dict[str, int]) -> tuple[int, int]:
    reads = sum(n for op, n in calls.items() if is_read(op))
    return reads, sum(calls.values()) - reads


def describe_calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{op.split(':', 1)[-1]}{'' if n == 1 else f' x{n}'}"
                     for op, n in sorted(calls.items())) or "none"


# ---- builds and sizes ------------------------------------------------------------------


def sources_mtime() -> float:
    files = [ROOT / "Cargo.toml", ROOT / "Cargo.lock", *(ROOT / "src").rglob("*.rs")]
    return max(f.stat().st_mtime for f in files if f.exists())


def is_aarch64_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        header = f.read(20)
    return header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 0xB7


def build_arm64() -> str:
    """`cargo lambda build --release --target aarch64-unknown-linux-musl` (as `make package`
    builds the arm64 zip), unless its artifact is newer than every source. Returns what was
    done."""
    if ARM64_BOOTSTRAP.exists() and ARM64_BOOTSTRAP.stat().st_mtime > sources_mtime() \
            and is_aarch64_elf(ARM64_BOOTSTRAP):
        return "cached: newer than every source"
    log = WORK_DIR / "arm64-build.log"
    argv = [demo.tool("cargo-lambda"), "lambda", "build", "--release", "--target", ARM64_TARGET,
            "--bin", "vendor-access", "--lambda-dir", str(LAMBDA_DIR)]
    progress(f"cargo lambda build --release --target {ARM64_TARGET} (up to 20 min on 2 cores when dependencies "
             f"must be compiled; log: {log.relative_to(ROOT)})")
    process = demo.Process("cargo lambda build", argv, log, env=demo.clean_env({}))
    try:
        process.proc.wait(timeout=ARM64_BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchError(f"cargo lambda build did not finish within {ARM64_BUILD_TIMEOUT:.0f} s")
    finally:
        process.stop()
    if process.proc.returncode != 0 or not ARM64_BOOTSTRAP.exists():
        tail = "\n".join("      " + line for line in process.log_text().splitlines()[-20:])
        raise BenchError(f"cargo lambda build --release --target {ARM64_TARGET} failed (log {log}):\n{tail}")
    return "built by this run"


def strip_tools() -> list[list[str]]:
    """Ways to strip symbols, in order of preference: LLVM's (they read x86_64 and
    aarch64 alike; rust-objcopy comes with the llvm-tools component), then GNU strip."""
    tools = []
    try:
        sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
        tools += [[str(p), "--strip-all"] for p in Path(sysroot).glob("lib/rustlib/*/bin/rust-objcopy")]
    except (OSError, subprocess.SubprocessError):
        pass
    for name in ("llvm-objcopy", "llvm-strip", "strip"):
        found = shutil.which(name)
        if found:
            tools.append([found, "--strip-all"] if name != "strip" else [found, "--strip-all", "-o"])
    return tools


def sizes(binary: Path) -> tuple[Optional[int], Optional[int]]:
    """(bytes as built, bytes once stripped of symbols; None when no tool could strip it)."""
    if not binary.exists():
        return None, None
    copy = WORK_DIR / f"{binary.name}-{binary.parent.name}.stripped"
    for tool in strip_tools():
        copy.unlink(missing_ok=True)
        argv = [*tool, str(copy), str(binary)] if tool[-1] == "-o" else [*tool, str(binary), str(copy)]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0 and copy.exists():
            return binary.stat().st_size, copy.stat().st_size
    return binary.stat().st_size, None


def install_baseline_package() -> None:
    """The baseline's deployment package (crhelper), installed once per requirements."""
    requirements = BASELINE_DIR / "requirements.txt"
    stamp = BASELINE_PACKAGE / f".installed-{hashlib.sha1(requirements.read_bytes()).hexdigest()[:12]}"
    if stamp.exists():
        return
    shutil.rmtree(BASELINE_PACKAGE, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--target", str(BASELINE_PACKAGE), "-r", str(requirements)],
                   check=True, timeout=600)
    stamp.touch()


# ---- local TLS for the ResponseURLs ----------------------------------------------------


def make_tls() -> tuple[ssl.SSLContext, Path]:
    """A throw-away CA and a certificate for 127.0.0.1 signed by it. Returns the server
    context and a CA bundle (the system's roots plus this CA), so that both functions load
    as many roots as they would in Lambda."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(hours=1),
                 not_valid_after=now + datetime.timedelta(days=1))

    def builder(subject, issuer, public_key):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(public_key).serial_number(x509.random_serial_number()))
        return b.not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vendor-access bench CA")])
    ca = (builder(ca_name, ca_name, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (builder(name, ca_name, key.public_key())
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    cert_file, key_file = WORK_DIR / "responses-cert.pem", WORK_DIR / "responses-key.pem"
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    paths = ssl.get_default_verify_paths()
    system = next((Path(p) for p in (paths.cafile, paths.openssl_cafile) if p and Path(p).exists()), None)
    bundle = WORK_DIR / "ca-bundle.pem"
    bundle.write_bytes((system.read_bytes() + b"\n" if system else b"") + ca.public_bytes(pem))
    return context, bundle


# ---- the report ------------------------------------------------------------------------


def ms(values: list[float]) -> str:
    """Median, with min-max and the interquartile range when there are enough samples."""
    if not values:
        return "n/a"
    v = sorted(x * 1000 for x in values)
    if len(v) == 1:
        return f"{v[0]:.1f} (n=1)"
    text = f"{statistics.median(v):.1f} ({v[0]:.1f}-{v[-1]:.1f}"
    if len(v) >= 4:
        q1, _, q3 = statistics.quantiles(v, n=4)
        text += f", IQR {q1:.1f}-{q3:.1f}"
    return text + f"; n={len(v)})"


def ratio(rust: list[float], python: list[float]) -> Optional[float]:
    if not rust or not python:
        return None
    return statistics.median(rust) / statistics.median(python)


def fmt_ratio(r: Optional[float]) -> str:
    return "n/a" if r is None else f"{r:.3g}"


def verdict(met: Optional[bool]) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def mib(kib: Optional[float]) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def size_cell(built: Optional[int], stripped: Optional[int]) -> str:
    """A binary's stripped size, and its size as built when that differs."""
    if built is None:
        return "n/a"
    if stripped is None:
        return f"n/a, {mib(built / 1024)} as built (no tool to strip it)"
    if built - stripped < 64 * 1024:
        return f"{mib(stripped / 1024)}, already stripped as built"
    return f"{mib(stripped / 1024)}, {mib(built / 1024)} as built"


def report(samples: dict[str, Samples], builds: dict, machine: dict, args) -> str:
    rust, python = samples["rust"], samples["python"]
    lines = [
        f"Machine: {machine['cpus']} CPUs ({machine['cpu']}), {machine['memory']} memory, "
        f"{machine['os']}; {machine['date']}; load average {machine['load_start']} when measuring began, "
        f"{load_average()} at the end (other work on the machine makes every figure noisier).",
        f"Versions: {machine['versions']}.",
        f"Runs: {args.cold_runs} cold starts per function (after one discarded warm-up), "
        f"{args.rounds} round(s) of {args.cycles} create/no-op update/real update/delete cycles "
        f"({4 * args.cycles} events) per function, the first cycle of each round untimed; "
        f"Lambda timeout {LAMBDA_TIMEOUT_S:.0f} s. Times are medians in ms "
        "(min-max, interquartile range; n samples).",
        "",
        "| figure | Rust | Python (crhelper + boto3) | Rust / Python | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    goals = []
    r = ratio(rust.cold_start, python.cold_start)
    met = None if r is None else r <= GOAL_COLD_START
    goals.append(("cold start <= 1/10 of Python", met))
    lines.append(f"| cold start: spawn to first `next` | {ms(rust.cold_start)} | {ms(python.cold_start)} "
                 f"| {fmt_ratio(r)} | <= 0.1 | {verdict(met)} |")
    r = ratio(rust.first_answer, python.first_answer)
    met = None if r is None else r <= GOAL_COLD_START
    goals.append(("cold start counted to the first Create answered (spawn to its ResponseURL PUT) "
                  "<= 1/10 of Python, so that work moved from start-up to the first event gains "
                  "nothing", met))
    lines.append(f"| cold start: spawn to the first Create's ResponseURL PUT | {ms(rust.first_answer)} | "
                 f"{ms(python.first_answer)} | {fmt_ratio(r)} | <= 0.1 | {verdict(met)} |")
    r = ratio(rust.first_event, python.first_event)
    met = None if r is None else r < 1
    goals.append(("(not a goal of the issue, but what a deploy waits for) first event after a "
                  "cold start below Python", met))
    lines.append(f"| first event after a cold start (create, handed over to PUT) | {ms(rust.first_event)} | "
                 f"{ms(python.first_event)} | {fmt_ratio(r)} | < 1 | {verdict(met)} |")
    latency_met = []
    for op in ROLE_OPS:
        r = ratio(rust.latency.get(op, []), python.latency.get(op, []))
        met = None if r is None else r < 1
        latency_met.append(met)
        lines.append(f"| VendorS3Access {op} | {ms(rust.latency.get(op, []))} | "
                     f"{ms(python.latency.get(op, []))} | {fmt_ratio(r)} | < 1 | {verdict(met)} |")
    for op in CORS_OPS:
        shown = ms(rust.latency.get(op, [])) if not rust.cors else f"n/a ({rust.cors})"
        lines.append(f"| BucketCors {op.split()[1]} | {shown} | n/a (the baseline serves only the "
                     "Lightly role) | n/a | < 1 | n/a |")
    goals.append(("latency below Python on every operation",
                  None if None in latency_met else all(latency_met)))
    if rust.template_delete or python.template_delete:
        r = ratio(rust.template_delete, python.template_delete)
        lines.append(f"| VendorS3Access delete, {TEMPLATE_TIMEOUT_S:.0f} s timeout (template.yaml) "
                     f"| {ms(rust.template_delete)} | {ms(python.template_delete)} | {fmt_ratio(r)} "
                     f"| < 1 | {verdict(None if r is None else r < 1)} |")
    rust_rss = statistics.median(rust.peak_rss_kib) if rust.peak_rss_kib else None
    python_rss = statistics.median(python.peak_rss_kib) if python.peak_rss_kib else None
    r = rust_rss / python_rss if rust_rss and python_rss else None
    met = None if r is None else r <= GOAL_RSS
    goals.append((f"peak RSS <= {GOAL_RSS:g} of Python (issue 15; issue 7 asked for 0.25)", met))

    def rss(values):
        return "n/a" if not values else (f"{mib(statistics.median(values))} "
                                         f"({mib(min(values))}-{mib(max(values))}; n={len(values)})")
    lines.append(f"| peak RSS (VmHWM) over {4 * args.cycles} events | {rss(rust.peak_rss_kib)} | "
                 f"{rss(python.peak_rss_kib)} | {fmt_ratio(r)} | <= {GOAL_RSS:g} | {verdict(met)} |")

    def split(values):
        if not values:
            return "n/a"
        anon, file = values[len(values) // 2]
        return f"{mib(anon)} anonymous + {mib(file)} file-backed"
    lines.append(f"| of which, resident at the end | {split(rust.rss_split_kib)} | "
                 f"{split(python.rss_split_kib)} | | | |")
    lines.append(f"| `cargo lambda build --release --target {ARM64_TARGET}` bootstrap, stripped | "
                 f"{size_cell(*builds['arm64'])}; {builds['arm64_how']} | n/a | | | |")
    lines.append(f"| x86_64 binary run here (`{builds['binary']}`), stripped | "
                 f"{size_cell(*builds['x86_64'])} | n/a | | | |")

    lines += ["", "AWS API calls per operation (counted by a proxy in front of moto; second cycle "
              "of a fresh process, R = reads: Get/List/Head/Describe, W = writes):", "",
              "| operation | minimum R/W | Rust R/W | Rust calls | Python R/W | Python calls | Rust at minimum |",
              "|---|---|---|---|---|---|---|"]
    at_minimum = []
    for op in ROLE_OPS + CORS_OPS:
        min_r, min_w, _ = MINIMUM[op]
        cells = []
        for s in (rust, python):
            if op in s.calls:
                cells += ["{}/{}".format(*split_calls(s.calls[op])), describe_calls(s.calls[op])]
            else:
                cells += ["n/a", "n/a"]
        if op in rust.calls:
            reads, writes = split_calls(rust.calls[op])
            met = reads <= min_r and writes <= min_w
            at_minimum.append(met)
            shown = verdict(met) + ("" if met else f" ({reads - min_r:+d} R, {writes - min_w:+d} W)")
        else:
            shown = "n/a"
        lines.append(f"| {op} | {min_r}/{min_w} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | {shown} |")
    goals.append(("API calls at the minimum", None if not at_minimum else all(at_minimum)))
    unsteady = [f"{key}: {', '.join(s.calls_unsteady)}" for key, s in samples.items() if s.calls_unsteady]
    if unsteady:
        lines += ["", "Counts that differed between the first and the second cycle: " + "; ".join(unsteady)]
    lines += ["", "Why each minimum:", ""]
    lines += [f"- {op}: {why}" for op, (_, _, why) in MINIMUM.items()]
    lines += ["", "Against the bare runtime (`bench/bare-runtime/`: `lambda_runtime` with an echo "
              "handler, the same Cargo.lock and profile; what any Rust function pays before its own "
              "start-up):", "",
              "| figure | Rust (vendor-access) | bare lambda_runtime | Rust / bare | goal | met |",
              "|---|---|---|---|---|---|"]
    bare = samples.get("bare", Samples())
    r = ratio(rust.cold_start, bare.cold_start)
    met = None if r is None else r <= GOAL_COLD_START_BARE
    goals.append((f"cold start (spawn to first `next`) <= {GOAL_COLD_START_BARE:g}x the bare runtime "
                  "(issue 15)", met))
    lines.append(f"| cold start: spawn to first `next` | {ms(rust.cold_start)} | {ms(bare.cold_start)} "
                 f"| {fmt_ratio(r)} | <= {GOAL_COLD_START_BARE:g} | {verdict(met)} |")
    lines.append(f"| peak RSS (VmHWM) | {rss(rust.peak_rss_kib)} after {4 * args.cycles} events | "
                 f"{rss(bare.peak_rss_kib)} at its first `next` | | | |")
    lines += ["", "Goals (issues 7 and 15):", ""]
    lines += [f"- {goal}: {verdict(met)}" for goal, met in goals]
    return "\n".join(lines) + "\n"


def settle(limit_s: float = SETTLE_LIMIT_S) -> None:
    """Waits, at most `limit_s`, for the 1-minute load average to fall below half the CPUs
    (the builds just before leave it high), so that measuring starts on a quiet machine
    when there is one to be had."""
    cpus = os.cpu_count() or 1
    deadline = time.monotonic() + limit_s

    def load() -> float:
        try:
            return float(Path("/proc/loadavg").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
    if load() < cpus / 2:
        return
    progress(f"waiting up to {limit_s:.0f} s for the load average ({load():.2f}) to fall below {cpus / 2:g}")
    while load() >= cpus / 2 and time.monotonic() < deadline:
        time.sleep(5)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def display_path(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def machine_facts(load_start: str) -> dict:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal:"))
        memory = f"{mem_kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        memory = "unknown"

    def version(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    import boto3
    import botocore
    import moto
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "load_start": load_start,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": f"{version(['rustc', '--version'])}; Python {platform.python_version()}, "
                    f"boto3 {boto3.__version__}, botocore {botocore.__version__}, "
                    f"crhelper {crhelper_version()}, moto {moto.__version__}",
    }


def crhelper_version() -> str:
    for info in BASELINE_PACKAGE.glob("crhelper-*.dist-info"):
        return info.name[len("crhelper-"):-len(".dist-info")]
    return "?"


SECTIONS = ("functions", "stack", "plan")


def section_marks(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_results(parts: dict[str, str]) -> None:
    """Writes the parts measured (by section name) into bench/results.md, keeping the
    sections this run did not measure as the last run that did left them; then copies
    the whole into bench/README.md."""
    old = RESULTS.read_text() if RESULTS.exists() else ""
    body = []
    for name in SECTIONS:
        start, end = section_marks(name)
        if name in parts:
            text = parts[name]
        elif start in old and end in old:
            text = old.split(start, 1)[1].split(end, 1)[0].strip("\n") + "\n"
        else:
            continue
        body.append(f"{start}\n{text}{end}\n")
    table = "\n".join(body)
    RESULTS.write_text("# Benchmark results\n\nWritten by `make bench` (bench/bench.py); "
                       "see bench/README.md for what each figure means.\n\n" + table)
    if README.exists():
        text = README.read_text()
        if README_START in text and README_END in text:
            head, rest = text.split(README_START, 1)
            _, tail = rest.split(README_END, 1)
            README.write_text(f"{head}{README_START}\n{table}{README_END}{tail}")


# ---- main ------------------------------------------------------------------------------


@contextlib.contextmanager
def cleanup_guarded():
    """An ExitStack for every service started. SIGTERM (from make or CI) interrupts like
    Ctrl-C; the clean-up itself runs with both ignored, so it always finishes."""
    def interrupted(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    stack = contextlib.ExitStack()
    try:
        yield stack
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stack.close()
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)


def start_moto(stack: contextlib.ExitStack) -> str:
    """moto_server on a free port, stopped with `stack`. Returns its endpoint."""
    port = demo.free_port()
    moto = demo.Process("moto_server", [demo.tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                        WORK_DIR / "moto.log", env=demo.clean_env({}))
    stack.callback(moto.stop)
    endpoint = f"http://127.0.0.1:{port}"
    demo.wait_until("moto", lambda: demo.http_answers(f"{endpoint}/moto-api/"), moto, demo.SERVICE_TIMEOUT)
    return endpoint


def prepare_aws(endpoint: str) -> str:
    """The bucket and the permissions-boundary policy. Returns the policy's ARN."""
    aws = demo.Aws(endpoint)
    aws.client("s3").create_bucket(Bucket=BUCKET)
    # New buckets in AWS encrypt with SSE-S3 by default; moto leaves that unset.
    aws.client("s3").put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    return aws.client("iam").create_policy(
        PolicyName=demo.BOUNDARY_NAME, Path="/vendor-access/",
        PolicyDocument=json.dumps(demo.BOUNDARY_DOCUMENT))["Policy"]["Arn"]


def start_catcher(stack: contextlib.ExitStack, tls: ssl.SSLContext) -> "demo.Catcher":
    """tools/demo.py's ResponseURL catcher, over HTTPS."""
    catcher = demo.Catcher()
    catcher.server.socket = tls.wrap_socket(catcher.server.socket, server_side=True)
    tune(catcher.server)
    catcher.start()
    stack.callback(catcher.stop)
    return catcher


def run_bench(args, stack: contextlib.ExitStack) -> dict[str, str]:
    """Builds, starts the services, measures; returns the report's sections."""
    if not args.binary.exists():
        raise BenchError(f"{args.binary} is missing: run `make bench`, which builds it")
    if args.compare:
        args.binary = Path(args.compare[0].partition("=")[2])
    if not args.bare_binary.exists() and not (args.stack_only or args.plan_only):
        raise BenchError(f"{args.bare_binary} is missing: run `make bench`, which builds it "
                         "(cargo lambda build --release -p bare-runtime)")
    print("vendor-access bench")
    parts: dict[str, str] = {}
    if args.plan_only:
        return {"plan": measure_plan(args.binary.resolve(), args.plan_runs)}
    builds = {"x86_64": sizes(args.binary), "arm64": (None, None), "arm64_how": "skipped",
              "binary": display_path(args.binary)}
    if not args.skip_arm64 and not args.stack_only:
        try:
            builds["arm64_how"] = build_arm64()
            builds["arm64"] = sizes(ARM64_BOOTSTRAP)
        except BenchError as error:
            # The other figures do not need it: report the failure in its row and go on.
            print(f"\nbench: {error.args[0]}\n", file=sys.stderr)
            builds["arm64_how"] = "the build failed (.tmp/bench/arm64-build.log)"
    install_baseline_package()

    endpoint = start_moto(stack)
    tls, ca_bundle = make_tls()
    catcher = start_catcher(stack, tls)
    boundary_arn = prepare_aws(endpoint)
    print(f"   moto {endpoint}, ResponseURLs https://127.0.0.1:{catcher.port}, logs in "
          f"{WORK_DIR.relative_to(ROOT)}/")
    settle(args.settle_limit)
    if args.compare:
        return {"compare": measure_builds(args, endpoint, catcher, ca_bundle, boundary_arn)}
    if not args.stack_only:
        proxy = CountingProxy(endpoint.removeprefix("http://"))
        stack.callback(proxy.stop)
        fns = functions(boundary_arn, args.binary.resolve())
        bench = Bench(args, lambda_env(endpoint, ca_bundle), lambda_env(proxy.endpoint, ca_bundle),
                      catcher, fns, bare_runtime(args.bare_binary.resolve()))
        load_start = load_average()
        if not args.cold_only:
            bench.call_counts(proxy)
        bench.cold_starts()
        bench.warm_rounds()
        if not args.skip_crhelper_sleep and not args.cold_only:
            bench.template_timeout_delete()
        parts["functions"] = report(bench.samples, builds, machine_facts(load_start), args)
        if not args.cold_only:
            parts["functions"] += confirmation_cost(endpoint)
            parts["plan"] = measure_plan(args.binary.resolve(), args.plan_runs)
    if not args.skip_stack and not args.cold_only:
        parts["stack"] = measure_stack(args, stack, endpoint, catcher, ca_bundle, boundary_arn)
    return parts


def measure_builds(args, endpoint: str, catcher, ca_bundle: Path, boundary_arn: str) -> str:
    """--compare: several builds of the function, each measured as the function is (cold
    starts and rounds interleaved with each other, the Python baseline and the bare
    runtime), for the table of what each change to the build did (bench/README.md)."""
    rust_env = functions(boundary_arn)[0].env
    builds = []
    for spec in args.compare:
        name, _, path = spec.partition("=")
        builds.append(Function(f"build {name}", name, [str(Path(path).resolve())], rust_env))
    python = functions(boundary_arn)[1]
    bench = Bench(args, lambda_env(endpoint, ca_bundle), {}, catcher, builds + [python],
                  bare_runtime(args.bare_binary.resolve()))
    load_start = load_average()
    bench.cold_starts()
    bench.warm_rounds()
    py, bare = bench.samples["python"], bench.samples["bare"]
    lines = [
        f"Builds compared {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, load "
        f"average {load_start} at the start, {load_average()} at the end; {args.cold_runs} cold "
        f"starts and {args.rounds} round(s) of {4 * args.cycles} events each, interleaved. Bare "
        f"runtime: {ms(bare.cold_start)} ms to first `next`; Python: {ms(py.cold_start)} ms to "
        f"first `next`, {ms(py.first_answer)} ms to the first Create's PUT, peak RSS "
        f"{mib(statistics.median(py.peak_rss_kib))}.", "",
        "| build | spawn to first `next`, ms | / bare | spawn to first Create's PUT, ms | / Python "
        "| peak RSS | / Python | resident at the end | binary (stripped) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for fn in builds:
        s = bench.samples[fn.key]
        rss = statistics.median(s.peak_rss_kib)
        anon, file = s.rss_split_kib[len(s.rss_split_kib) // 2]
        _, stripped = sizes(Path(fn.argv[0]))
        lines.append(
            f"| {fn.label} | {ms(s.cold_start)} | {fmt_ratio(ratio(s.cold_start, bare.cold_start))} "
            f"| {ms(s.first_answer)} | {fmt_ratio(ratio(s.first_answer, py.first_answer))} "
            f"| {mib(rss)} | {rss / statistics.median(py.peak_rss_kib):.3g} "
            f"| {mib(anon)} anon + {mib(file)} file | {mib(stripped / 1024 if stripped else None)} |")
    return "\n".join(lines) + "\n"


LOCK_BUCKET = "bench-locks"


def measure_stack(args, stack: contextlib.ExitStack, endpoint: str, catcher, ca_bundle: Path,
                  boundary_arn: str) -> str:
    """The stack-level benchmark (bench/stack.py): today's design beside the new one."""
    proxy = CountingProxy(endpoint.removeprefix("http://"), latency_s=args.stack_latency_ms / 1000)
    stack.callback(proxy.stop)
    aws = demo.Aws(endpoint)
    aws.client("s3").create_bucket(Bucket=LOCK_BUCKET)
    rust = functions(boundary_arn, args.binary.resolve())[0]
    env = demo.clean_env({**lambda_env(proxy.endpoint, ca_bundle), **rust.env})
    designs = [
        stack_bench.Design("today", "today (reserved concurrency 1, no lock bucket)", 1, {}),
        stack_bench.Design("new", f"new (reserved concurrency {args.stack_concurrency}, "
                                  f"`VENDOR_ACCESS_LOCK_BUCKET`)", args.stack_concurrency,
                           {"VENDOR_ACCESS_LOCK_BUCKET": LOCK_BUCKET}),
    ]
    log_dir = WORK_DIR / "stack"
    log_dir.mkdir(parents=True, exist_ok=True)
    token = f"arn:aws:lambda:{REGION}:{demo.ACCOUNT_ID}:function:vendor-access"

    def stack_id(label: str) -> str:
        return f"arn:aws:cloudformation:{REGION}:{demo.ACCOUNT_ID}:stack/{label}/{uuid.uuid4()}"

    def invoker(design, n, r, label):
        return stack_bench.AsyncLambda(rust.argv, {**env, **design.env}, design.concurrency, catcher,
                                       log_dir, f"{label}-{design.key}-n{n}-r{r}", seed=1000 * r + n)

    def roles(design, n, r):
        events = stack_bench.role_events(n, stack_id(f"bench-roles-{design.key}-{n}-{r}"), token,
                                         BUCKET, EXTERNAL_ID)
        return invoker(design, n, r, "roles"), events, lambda: -1

    def merges(design, n, r):
        bucket = f"bench-merge-{design.key}-{n}-{r}"
        aws.client("s3").create_bucket(Bucket=bucket)
        events = stack_bench.policy_events(n, stack_id(f"bench-merge-{design.key}-{n}-{r}"), token,
                                           bucket, demo.ACCOUNT_ID)
        return invoker(design, n, r, "merge"), events, lambda: stack_bench.statements_kept(aws, bucket, n)

    sizes = [int(n) for n in args.stack_sizes.split(",")]
    role_runs, _ = stack_bench.measure(roles, designs, sizes, args.stack_rounds, progress, "roles")
    merge_runs, kept = stack_bench.measure(merges, designs, sizes, args.stack_rounds, progress, "merge")
    one = stack_bench.median(role_runs[("new", sizes[0])])
    most = stack_bench.median(role_runs[("new", sizes[-1])])
    stack_ratio = most / one
    lines = [
        "Stack makespan (issue 15): N custom resources of one stack created at once, from queuing "
        "the N events to the last ResponseURL PUT, through a stand-in of Lambda's asynchronous "
        "invocation (bench/stack.py: at most the reserved concurrency of processes, each serving "
        "one event at a time, started cold when needed; a throttled event retried after 1 s, "
        "doubling to 5 minutes, each delay drawn between half and all of it), every AWS call held "
        f"{args.stack_latency_ms:g} ms by the proxy in front of moto (like IAM's). "
        f"{args.stack_rounds} round(s), the designs alternating; median (min-max) of the rounds. "
        f"Measured: {built_from(args.binary)}.",
        "",
    ]
    lines += stack_bench.table(
        "Independent resources: N `Custom::VendorS3Access` roles (3 AWS calls each: "
        "GetBucketEncryption, CreateRole, PutRolePolicy):", designs, sizes, role_runs)
    lines += [""]
    lines += stack_bench.table(
        "Merging resources: N `Custom::BucketPolicyStatements` writing one bucket's policy (each "
        "reads, merges, writes and reads back that one document; they must take turns):",
        designs, sizes, merge_runs, kept)
    lines += [
        "",
        "\"throttled\" is how many invocation attempts found no process free (median of the "
        "rounds); \"processes\" how many were started. \"statements kept\" counts the merged "
        "statements in the bucket policy after the run: fewer than N means a lost update.",
        "",
        f"Goal (issue 15): 16 independent resources within {GOAL_STACK:g}x the makespan of one, new "
        f"design: {sizes[-1]} within {stack_ratio:.2f}x of {sizes[0]}, "
        f"{verdict(stack_ratio <= GOAL_STACK) if sizes[-1] == 16 and sizes[0] == 1 else 'n/a (not N=1 to 16)'}.",
    ]
    return "\n".join(lines) + "\n"


def built_from(binary: Path) -> str:
    """Which binary was measured, and what was checked out (`make bench` builds it from
    that just before)."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    stamp = datetime.datetime.fromtimestamp(binary.stat().st_mtime, datetime.timezone.utc)
    return (f"`{display_path(binary)}` (built {stamp:%H:%M} UTC), with branch "
            f"`{git('rev-parse', '--abbrev-ref', 'HEAD')}` at `{git('describe', '--always', '--dirty')}` "
            f"checked out when measured")


def measure_plan(binary: Path, runs: int) -> str:
    """`vendor-access plan` on an example stack beside `vendor-access --version`: is the
    command line's time its own work, or the process start it cannot avoid?"""
    example = ROOT / "examples" / "lightly.yaml"
    commands = [
        ("`vendor-access --version` (process start)", [str(binary), "--version"]),
        ("`vendor-access plan examples/lightly.yaml`", [str(binary), "plan", str(example)]),
        ("`vendor-access plan --format json examples/lightly.yaml`",
         [str(binary), "plan", "--format", "json", str(example)]),
        ("`vendor-access validate examples/*.yaml` (all nine)",
         [str(binary), "validate", *sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))]),
    ]
    env = demo.clean_env({"NO_COLOR": "1"})
    timed: list[tuple[str, list[float]]] = []
    for label, argv in commands:
        done = subprocess.run(argv, capture_output=True, env=env, timeout=60)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(argv)} exited {done.returncode}: "
                             f"{done.stderr.decode(errors='replace')[-500:]}")
        times = []
        for i in range(runs + 2):
            started = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                           timeout=60, check=True)
            if i >= 2:  # two warm-ups
                times.append(time.perf_counter() - started)
        timed.append((label, times))
    base = statistics.median(timed[0][1])
    lines = [f"The command line (issue 14): each command run {runs} times after two warm-ups, from "
             "spawning it to its exit; ms, median (min-max, IQR).", "",
             "| command | time | / `--version` |", "|---|---|---|"]
    for label, times in timed:
        lines.append(f"| {label} | {ms(times)} | {statistics.median(times) / base:.2f} |")
    plan = statistics.median(timed[1][1]) / base
    lines += ["", f"Goal (issue 14): `plan` of an example stack dominated by process start, taken "
                  f"here as within {GOAL_PLAN:g}x `--version`: {plan:.2f}x, {verdict(plan <= GOAL_PLAN)}."]
    return "\n".join(lines) + "\n"


def confirmation_cost(endpoint: str, calls: int = 60) -> str:
    """What confirming each request with CloudFormation costs: one DescribeStackResource
    (two for the Delete of a replaced physical id). The functions above run with it off
    (moto cannot host a stack whose resources are custom ones), so the call is timed here,
    against the same moto, for a stack moto can make."""
    cfn = demo.Aws(endpoint).client("cloudformation")
    cfn.create_stack(StackName="bench-confirmation", TemplateBody=json.dumps(
        {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}))
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        cfn.describe_stack_resource(StackName="bench-confirmation", LogicalResourceId="Topic")
        times.append(time.perf_counter() - started)
    timed = times[10:]
    return ("\nConfirming a request with CloudFormation (issue 12) adds one read per request, "
            "`DescribeStackResource` (one more, `DescribeStacks`, for the Delete of a replaced "
            f"physical id): {ms(timed)} ms against this moto (boto3, the first 10 calls untimed); "
            "in AWS one CloudFormation round trip of the region.\n")


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark vendor-access against crhelper + boto3.")
    parser.add_argument("--cold-runs", type=int, default=10, help="cold starts per function (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="processes per function for latency and RSS (default 3)")
    parser.add_argument("--cycles", type=int, default=50,
                        help="create/update/update/delete cycles per round (default 50 = 200 events)")
    parser.add_argument("--skip-arm64", action="store_true", help="do not build or size the arm64 bootstrap")
    parser.add_argument("--binary", type=Path, default=RUST_BINARY,
                        help="the Rust function to run (default target/lambda/bench/vendor-access/bootstrap; e.g. an "
                             "x86_64 `cargo lambda build` bootstrap)")
    parser.add_argument("--skip-crhelper-sleep", action="store_true",
                        help="skip the Delete under the template's 300 s timeout (2 minutes for Python)")
    parser.add_argument("--bare-binary", type=Path, default=BARE_BINARY,
                        help="the bare lambda_runtime binary (default target/lambda/bench/bare-runtime/bootstrap)")
    parser.add_argument("--stack-only", action="store_true",
                        help="only the stack-level benchmark (makespan of N resources at once); "
                             "writes only its section of the results")
    parser.add_argument("--skip-stack", action="store_true", help="leave the stack-level benchmark out")
    parser.add_argument("--cold-only", action="store_true",
                        help="only cold starts, first events, latency and RSS (no call counts, stack, "
                             "plan, arm64 build or 300 s delete); prints, writes nothing")
    parser.add_argument("--stack-rounds", type=int, default=3, help="rounds of the stack benchmark (default 3)")
    parser.add_argument("--stack-latency-ms", type=float, default=100.0,
                        help="latency added to every AWS call in the stack benchmark (default 100)")
    parser.add_argument("--stack-concurrency", type=int, default=20,
                        help="the new design's reserved concurrency (default 20, as template.yaml)")
    parser.add_argument("--stack-sizes", default="1,4,8,16",
                        help="the numbers of resources of the stack benchmark (default 1,4,8,16; the first "
                             "is the base of the ratios)")
    parser.add_argument("--plan-only", action="store_true",
                        help="only the command line's speed; writes only its section of the results")
    parser.add_argument("--plan-runs", type=int, default=20, help="timed runs of each command (default 20)")
    parser.add_argument("--settle-limit", type=float, default=SETTLE_LIMIT_S,
                        help=f"seconds to wait at most for the load average to fall (default {SETTLE_LIMIT_S:.0f})")
    parser.add_argument("--compare", nargs="+", metavar="NAME=BINARY",
                        help="measure several builds of the function side by side (cold starts, "
                             "first Create, RSS, size); prints the table, writes nothing")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 cold starts, 1 round of 5 cycles, no arm64, no 300 s delete; "
                             "results are not written")
    args = parser.parse_args()
    if args.cold_only or args.compare:
        args.skip_arm64 = args.skip_crhelper_sleep = True
    if args.quick:
        args.cold_runs, args.rounds, args.cycles = 2, 1, 5
        args.skip_arm64 = args.skip_crhelper_sleep = True
        args.stack_rounds, args.plan_runs, args.stack_sizes = 1, 3, "1,4"

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        with cleanup_guarded() as stack:
            parts = run_bench(args, stack)
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    except (BenchError, demo.DemoError) as error:
        print(f"\nbench: {error.args[0]}", file=sys.stderr)
        return 1

    print()
    for name in (*SECTIONS, "compare"):
        if name in parts:
            print(parts[name])
    if args.quick or args.cold_only or args.compare:
        print("(quick, cold-only or compare run: results not written)")
    else:
        write_results(parts)
        print(f"written to {RESULTS.relative_to(ROOT)} and {README.relative_to(ROOT)}")
    print(f"(took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
