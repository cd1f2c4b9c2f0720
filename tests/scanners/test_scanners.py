"""The scanners a customer's pipeline runs, on every template the project ships (docs/ci.md).

- checkov (the repository's .checkov.yaml) passes template.yaml, the packaged plain template
  and examples/ with zero failures, and `checkov -d .` at the root passes too;
- each checkov skip in a resource's Metadata is one checkov reports without it, and the
  fixtures the config excludes would fail without the exclusion;
- cfn-lint with the informational checks passes, and its one ignored check is one it reports;
- cfripper passes with tools/cfripper's filters, fails without them, and the filter hides
  nothing but the four actions it names;
- a customer stack written from the README's snippets passes a default `checkov -f`, and
  would not if it spelled out `SecretStorage: secrets-manager`.
(The CDK synth output is scanned by cdk/test.)

Run with the project's venv, after `make package-template`:
    .venv/bin/python tests/scanners/test_scanners.py
"""

import copy
import json
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT / "tests" / "template"))
sys.path.insert(0, str(ROOT / "tools"))

import package_template  # noqa: E402
import test_template as fence  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
PLAIN = ROOT / "target" / "package" / "vendor-access.template.yaml"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def checkov(*args, cwd=ROOT):
    """checkov's JSON report as {framework: results}; run in `cwd` (whose .checkov.yaml applies)."""
    run = subprocess.run(
        [str(BIN / "checkov"), *args, "--output", "json"], cwd=cwd, capture_output=True, text=True
    )
    if run.returncode not in (0, 1):
        raise AssertionError(f"checkov {args} exited {run.returncode}: {run.stderr[-2000:]}")
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    return {r["check_type"]: r for r in reports if "check_type" in r}, run.returncode


def findings(reports, kind):
    """(check id, resource) of every `kind` ("failed", "skipped", "passed") check."""
    return sorted(
        (check["check_id"], check.get("resource", ""))
        for report in reports.values()
        for check in report["results"][f"{kind}_checks"]
    )


def checkov_skips(template):
    """{(check id, resource type.logical id)} of the skips in the template's Metadata."""
    return {
        (skip["id"], f"{resource['Type']}.{logical_id}")
        for logical_id, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }


def without_metadata(template, key):
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        resource.get("Metadata", {}).pop(key, None)
    return template


def write(directory, name, template):
    path = Path(directory) / name
    path.write_text(json.dumps(template, indent=1))
    return path


class Checkov(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sam = fence.load(TEMPLATE)
        cls.plain = fence.load(PLAIN)

    def test_what_ships_passes(self):
        args = ["-f", str(TEMPLATE), "-f", str(PLAIN)] + [a for e in EXAMPLES for a in ("-f", str(e))]
        reports, status = checkov(*args)
        self.assertEqual(findings(reports, "failed"), [])
        self.assertEqual(status, 0)
        self.assertGreater(len(findings(reports, "passed")), 30)
        # Skipped is exactly what the Metadata skips, in both templates.
        expected = sorted(checkov_skips(self.sam) | checkov_skips(self.plain))
        self.assertEqual(sorted(set(findings(reports, "skipped"))), expected)
        skipped = [c for r in reports.values() for c in r["results"]["skipped_checks"]]
        self.assertTrue(all(c["check_result"].get("suppress_comment") for c in skipped))

    def test_each_skip_is_a_finding_without_it(self):
        for name, template in (("template", self.sam), ("plain", self.plain)):
            with self.subTest(template=name), tempfile.TemporaryDirectory() as tmp:
                skips = checkov_skips(template)
                self.assertGreaterEqual(len(skips), 3)
                path = write(tmp, f"{name}.json", without_metadata(template, "checkov"))
                reports, status = checkov("-f", str(path), "--skip-download", cwd=tmp)
                self.assertEqual(set(findings(reports, "failed")), skips)
                self.assertEqual(status, 1)

    def test_the_root_of_the_repository_passes(self):
        reports, status = checkov("-d", ".")
        self.assertEqual(findings(reports, "failed"), [])
        self.assertEqual(status, 0)
        self.assertIn("cloudformation", reports)

    def test_the_excluded_fixtures_would_fail(self):
        with tempfile.TemporaryDirectory() as tmp:
            reports, status = checkov("-d", str(ROOT / "events"), "--skip-download", cwd=tmp)
        self.assertIn("CKV_SECRET_6", {check for check, _ in findings(reports, "failed")})
        self.assertEqual(status, 1)
        config = (ROOT / ".checkov.yaml").read_text()
        self.assertIn("  - events/\n", config)


class CfnLint(unittest.TestCase):
    def lint(self, *paths):
        run = subprocess.run(
            [str(BIN / "cfn-lint"), "--include-checks", "I", "--", *map(str, paths)],
            capture_output=True, text=True,
        )
        return run.returncode, run.stdout + run.stderr

    def test_informational_checks_pass(self):
        status, output = self.lint(TEMPLATE, PLAIN, *EXAMPLES)
        self.assertEqual(status, 0, output)

    def test_the_ignored_check_is_one_it_reports(self):
        plain = fence.load(PLAIN)
        ignored = {
            logical_id: resource["Metadata"]["cfn-lint"]["config"]["ignore_checks"]
            for logical_id, resource in plain["Resources"].items()
            if "cfn-lint" in resource.get("Metadata", {})
        }
        self.assertEqual(ignored, {"PermissionsBoundaryPolicy": ["I3042"], "VendorAccessFunctionRole": ["I3042"]})
        with tempfile.TemporaryDirectory() as tmp:
            status, output = self.lint(write(tmp, "plain.json", without_metadata(plain, "cfn-lint")))
        self.assertNotEqual(status, 0)
        for logical_id in ignored:
            self.assertRegex(output, rf"I3042 ARN in Resource {logical_id} ")


class Cfripper(unittest.TestCase):
    def cfripper(self, path, filters=True):
        args = [str(BIN / "cfripper"), str(path), "--format", "json"]
        if filters:
            args += ["--rules-filters-folder", str(ROOT / "tools" / "cfripper")]
        run = subprocess.run(args, capture_output=True, text=True)
        if run.returncode not in (0, 2):
            raise AssertionError(f"cfripper exited {run.returncode}: {run.stderr[-2000:]}")
        result = json.loads(run.stdout)
        self.assertEqual(result["exceptions"], [])
        blocking = [f for f in result["failures"] if f["rule_mode"] == "BLOCKING"]
        return run.returncode, [(f["rule"], f["reason"]) for f in blocking]

    def test_the_templates_pass_with_the_filters(self):
        for path in (TEMPLATE, PLAIN):
            with self.subTest(template=path.name):
                self.assertEqual(self.cfripper(path), (0, []))

    def test_without_the_filters_the_execution_role_and_the_lock_bucket_fail(self):
        status, failed = self.cfripper(TEMPLATE, filters=False)
        self.assertEqual(status, 2)
        self.assertEqual(sorted(rule for rule, _ in failed), ["PrivilegeEscalationRule", "S3ObjectVersioningRule"])
        reasons = dict(failed)
        self.assertIn("VendorAccessFunctionRole", reasons["PrivilegeEscalationRule"])
        self.assertIn("LockBucket", reasons["S3ObjectVersioningRule"])

    def test_the_filter_hides_no_other_action(self):
        template = fence.load(TEMPLATE)
        role = template["Resources"]["VendorAccessFunctionRole"]["Properties"]
        for statement in role["Policies"][0]["PolicyDocument"]["Statement"]:
            if statement.get("Sid") == "CreateVendorAccessRolesOnlyWithBoundary":
                statement["Action"].append("iam:AttachRolePolicy")
        with tempfile.TemporaryDirectory() as tmp:
            status, failed = self.cfripper(write(tmp, "t.json", template))
        self.assertEqual(status, 2)
        self.assertIn("iam:AttachRolePolicy", failed[0][1])


def readme_stack(extra=""):
    """A customer's stack: every CloudFormation snippet of the README, as one template."""
    text = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "Type: Custom::" in b]
    resources, outputs = [], []
    for block in blocks:
        head, _, tail = block.partition("\nOutputs:\n")
        resources.append(head if not head.startswith("Outputs:") else "")
        outputs.append(tail)
    indent = lambda lines: "".join("  " + line + "\n" for line in "\n".join(lines).splitlines())
    body = indent(resources) + extra
    stack = 'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n' + body
    if any(o.strip() for o in outputs):
        stack += "Outputs:\n" + "".join(o if o.endswith("\n") else o + "\n" for o in outputs if o.strip())
    return stack, len(blocks)


class CustomerStackFromTheReadme(unittest.TestCase):
    """`checkov -f stack.yaml` as a pipeline runs it: all checks, no config of ours."""

    def scan(self, stack):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "stack.yaml"
            path.write_text(stack)
            lint = subprocess.run([str(BIN / "cfn-lint"), "--", str(path)], capture_output=True, text=True)
            self.assertEqual(lint.returncode, 0, lint.stdout + stack)
            return checkov("-f", str(path), "--skip-download", cwd=tmp)

    def test_passes_a_default_checkov_step(self):
        stack, blocks = readme_stack()
        self.assertGreaterEqual(blocks, 2)
        self.assertIn("Type: Custom::VendorS3User", stack)
        reports, status = self.scan(stack)
        self.assertEqual(findings(reports, "failed"), [])
        self.assertEqual(status, 0)

    def test_spelling_out_the_default_secret_storage_would_fail(self):
        stack, _ = readme_stack()
        stack = stack.replace("      Serial: 1\n", "      Serial: 1\n      SecretStorage: secrets-manager\n", 1)
        self.assertIn("SecretStorage: secrets-manager", stack)
        reports, status = self.scan(stack)
        self.assertIn("CKV_SECRET_6", {check for check, _ in findings(reports, "failed")})
        self.assertEqual(status, 1)


if __name__ == "__main__":
    if not PLAIN.exists():
        sys.exit(f"{PLAIN} is missing: run make package-template")
    unittest.main(verbosity=2)
