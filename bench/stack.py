"""The stack-level benchmark (issue 15): N custom resources of one stack arriving at once.

CloudFormation creates a stack's independent resources in parallel, and invokes a custom
resource's function asynchronously. Lambda's asynchronous invocation is modelled here by
`AsyncLambda`:

  * at most `concurrency` function processes (the function's reserved concurrency), each
    serving one event at a time; a process is started (a cold start) when an event finds
    every running process busy and the limit not reached, and is kept for later events;
  * an event that finds no process free and the limit reached is throttled, and tried
    again later: after 1 s, the delay doubling to at most 5 minutes, as Lambda documents.
    Lambda does not say how it spreads those retries; each delay here is drawn uniformly
    between half and all of it (seeded, so the two designs see the same draws). Without
    any spread the retries of events throttled together stay together, one of them wins
    each round, and 16 events need about 40 minutes instead of the figures reported;
  * every AWS call is held `latency_s` by the counting proxy in front of moto (AWS's IAM
    answers in about 100 ms; moto in a millisecond or two).

The makespan is the time from queuing the N events to the last ResponseURL PUT arriving:
what CloudFormation waits for. Processes start cold in each run (a deploy after the
function has been idle).
"""

from __future__ import annotations

import heapq
import json
import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import demo
from runtime_api import RuntimeApi

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 300.0
# A run that has not finished by then is reported as such (it would mean a hung function).
RUN_LIMIT_S = 900.0
LAMBDA_TIMEOUT_S = 300.0  # template.yaml's Timeout: the deadline every event carries


@dataclass
class Design:
    key: str
    label: str
    concurrency: int
    env: dict[str, str]


@dataclass
class Run:
    makespan: float
    processes: int
    throttles: int
    failed: list[str] = field(default_factory=list)


class Slot:
    """One function process (a Lambda execution environment) with its runtime API."""

    def __init__(self, api: RuntimeApi, process: "demo.Process"):
        self.api = api
        self.process = process
        self.current: Optional[str] = None  # the request id being served


class AsyncLambda:
    """Lambda's asynchronous invocation of one function (see the module's text)."""

    def __init__(self, argv: list[str], env: dict[str, str], concurrency: int,
                 catcher: "demo.Catcher", log_dir: Path, log_prefix: str, seed: int):
        self.argv = argv
        self.env = env
        self.concurrency = concurrency
        self.catcher = catcher
        self.log_dir = log_dir
        self.log_prefix = log_prefix
        self.random = random.Random(seed)
        self.slots: list[Slot] = []

    def _finished(self, request_id: str) -> None:
        with self.catcher.changed:
            for slot in self.slots:
                if slot.current == request_id:
                    slot.current = None
            self.catcher.changed.notify_all()

    def _slot(self) -> Optional[Slot]:
        """A free process, a newly started one, or None: throttled."""
        for slot in self.slots:
            if slot.current is None:
                return slot
        if len(self.slots) >= self.concurrency:
            return None
        api = RuntimeApi(LAMBDA_TIMEOUT_S, on_finished=self._finished)
        env = {**self.env, "AWS_LAMBDA_RUNTIME_API": api.address}
        log = self.log_dir / f"{self.log_prefix}-{len(self.slots) + 1:02d}.log"
        slot = Slot(api, demo.Process(f"{self.log_prefix} process", self.argv, log, env=env))
        self.slots.append(slot)
        return slot

    def run(self, events: list[dict]) -> Run:
        """Queues `events` at once; returns when every ResponseURL has been answered."""
        paths = []
        for event in events:
            url, path = self.catcher.new_url(f"/cloudformation-custom-resource-response/stack/{uuid.uuid4()}")
            event["ResponseURL"] = url.replace("http://", "https://", 1)
            paths.append(path)
        arrived: dict[str, float] = {}
        throttles = 0
        started = time.perf_counter()
        due = [(started, i, RETRY_FIRST_S) for i in range(len(events))]
        heapq.heapify(due)
        with self.catcher.changed:
            while len(arrived) < len(paths):
                now = time.perf_counter()
                for path in paths:
                    if path not in arrived and path in self.catcher.received:
                        arrived[path] = now
                while due and due[0][0] <= now:
                    _, i, delay = heapq.heappop(due)
                    slot = self._slot()
                    if slot is None:
                        throttles += 1
                        retry = delay * self.random.uniform(0.5, 1.0)
                        heapq.heappush(due, (now + retry, i, min(2 * delay, RETRY_MAX_S)))
                        continue
                    slot.current = slot.api.invoke(events[i])
                if now - started > RUN_LIMIT_S:
                    raise demo.DemoError(f"{len(paths) - len(arrived)} of {len(paths)} events "
                                         f"unanswered after {RUN_LIMIT_S:.0f} s")
                wait = min(due[0][0] - now, 0.5) if due else 0.5
                if len(arrived) < len(paths):
                    self.catcher.changed.wait(max(wait, 0.0))
        makespan = max(arrived.values()) - started
        failed = []
        for event, path in zip(events, paths):
            response, problems = demo.check_response(event, self.catcher.puts(path)[0])
            if problems or response.get("Status") != "SUCCESS":
                failed.append(f"{event['LogicalResourceId']}: "
                              f"{'; '.join(problems) or response.get('Reason')}")
        return Run(makespan, len(self.slots), throttles, failed)

    def stop(self) -> None:
        for slot in self.slots:
            slot.process.stop()
            slot.api.stop()


# ---- the stacks ------------------------------------------------------------------------


def role_events(n: int, stack_id: str, token: str, bucket: str, external_id: str) -> list[dict]:
    """N Lightly roles, each on its own prefix: nothing shared but the bucket they read."""
    return [cfn_event(stack_id, token, "Custom::VendorS3Access", f"VendorRole{i:02d}", {
        "Vendor": "lightly", "ExternalId": external_id,
        "Locations": [{"Bucket": bucket, "Prefix": f"team{i:02d}/"}]}) for i in range(n)]


def policy_events(n: int, stack_id: str, token: str, bucket: str, account: str) -> list[dict]:
    """N Custom::BucketPolicyStatements, each owning one statement of the same bucket's
    policy: every one reads, merges and writes that one document."""
    return [cfn_event(stack_id, token, "Custom::BucketPolicyStatements", f"TeamStatement{i:02d}", {
        "Bucket": bucket,
        "Statements": [{"Sid": f"Team{i:02d}Read", "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/team{i:02d}/*"}]}) for i in range(n)]


def cfn_event(stack_id: str, token: str, resource_type: str, logical_id: str,
              properties: dict) -> dict:
    return {
        "RequestType": "Create",
        "ServiceToken": token,
        "StackId": stack_id,
        "RequestId": str(uuid.uuid4()),
        "ResourceType": resource_type,
        "LogicalResourceId": logical_id,
        "ResourceProperties": {"ServiceToken": token, **properties},
    }


def statements_kept(aws: "demo.Aws", bucket: str, n: int) -> int:
    """How many of the N statements the bucket policy holds after the run."""
    try:
        policy = json.loads(aws.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    except Exception:  # noqa: BLE001 (no policy at all: none kept)
        return 0
    sids = [s.get("Sid", "") for s in policy.get("Statement", [])]
    return sum(1 for i in range(n) if any(sid.endswith(f"Team{i:02d}Read") for sid in sids))


# ---- the report ------------------------------------------------------------------------


def seconds(runs: list[Run]) -> str:
    values = sorted(r.makespan for r in runs)
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.2f} s"
    return f"{statistics.median(values):.2f} s ({values[0]:.2f}-{values[-1]:.2f})"


def median(runs: list[Run]) -> Optional[float]:
    return statistics.median(r.makespan for r in runs) if runs else None


def table(title: str, designs: list[Design], sizes: list[int],
          runs: dict[tuple[str, int], list[Run]], kept: Optional[dict] = None) -> list[str]:
    head = ["resources"]
    for d in designs:
        head += [f"{d.label}: makespan", "/ N=1", "throttled, processes"]
    head.append(f"{designs[1].key} / {designs[0].key}")
    lines = [title, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in sizes:
        cells = [str(n)]
        for d in designs:
            rs = runs.get((d.key, n), [])
            base = median(runs.get((d.key, sizes[0]), []))
            m = median(rs)
            cells.append(seconds(rs))
            cells.append("n/a" if m is None or not base else f"{m / base:.2f}")
            detail = "n/a" if not rs else (f"{statistics.median(r.throttles for r in rs):g}, "
                                           f"{statistics.median(r.processes for r in rs):g}")
            if kept is not None and (d.key, n) in kept:
                got = kept[(d.key, n)]
                detail += f"; statements kept {min(got)}/{n}" if min(got) < n else "; all statements kept"
            failures = sum(len(r.failed) for r in rs)
            if failures:
                detail += f"; **{failures} FAILED**"
            cells.append(detail)
        a, b = median(runs.get((designs[0].key, n), [])), median(runs.get((designs[1].key, n), []))
        cells.append("n/a" if a is None or b is None else f"{b / a:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def measure(make: Callable[[Design, int, int], tuple[AsyncLambda, list[dict], Callable[[], int]]],
            designs: list[Design], sizes: list[int], rounds: int,
            progress: Callable[[str], None], label: str):
    """Every (design, N) `rounds` times, the designs alternating. `make(design, n, round)`
    gives the invoker, the events and a check returning how many merged statements were
    kept (or -1 when there is nothing to check)."""
    runs: dict[tuple[str, int], list[Run]] = {}
    kept: dict[tuple[str, int], list[int]] = {}
    for r in range(rounds):
        for n in sizes:
            for d in (designs if r % 2 == 0 else list(reversed(designs))):
                invoker, events, check = make(d, n, r)
                try:
                    run = invoker.run(events)
                finally:
                    invoker.stop()
                runs.setdefault((d.key, n), []).append(run)
                count = check()
                if count >= 0:
                    kept.setdefault((d.key, n), []).append(count)
                note = f", {len(run.failed)} failed: {run.failed[0]}" if run.failed else ""
                progress(f"stack {label} round {r + 1}/{rounds} N={n} {d.key}: {run.makespan:.2f} s, "
                         f"{run.throttles} throttled, {run.processes} processes{note}")
    return runs, kept
