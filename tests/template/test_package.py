"""The plain CloudFormation template `make package` writes, checked against template.yaml.

tools/package_template.py derives it (no SAM transform, code from S3 parameters) for StackSets,
Customizations for Control Tower and Service Catalog. These tests hold it to template.yaml:

- every resource but the function is copied unchanged: the execution role, the permissions
  boundary, the log group (and whatever template.yaml adds later);
- every parameter of template.yaml (the guardrails among them) is there, unchanged;
- the function keeps every property, gets its code from CodeS3Bucket/CodeS3Key, and its
  EventInvokeConfig becomes the resource SAM would write;
- every fence check of test_template.py passes on it too;
- the exports keep `<stack name>-ServiceToken` unless ExportPrefix names a fixed prefix;
- a SAM property the script cannot translate stops it instead of being dropped;
- the Serverless Application Repository metadata of template.yaml is valid and its version is
  Cargo.toml's.

Run with the project's venv:
    .venv/bin/python tests/template/test_package.py
"""

import copy
import re
import sys
import tempfile
import tomllib
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tools"))

import package_template  # noqa: E402
import test_template as fence  # noqa: E402

FUNCTION = "VendorAccessFunction"


class PlainTemplate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sam = fence.load(fence.TEMPLATE)
        cls.plain = package_template.plain_template(cls.sam)

    def test_no_transform_and_no_sam_resource(self):
        self.assertNotIn("Transform", self.plain)
        types = {r["Type"] for r in self.plain["Resources"].values()}
        self.assertFalse({t for t in types if t.startswith("AWS::Serverless::")}, types)
        self.assertEqual(self.plain["Resources"][FUNCTION]["Type"], "AWS::Lambda::Function")

    def test_every_other_resource_is_template_yamls(self):
        others = {k: v for k, v in self.sam["Resources"].items() if k != FUNCTION}
        self.assertIn("VendorAccessFunctionRole", others)
        self.assertIn("PermissionsBoundaryPolicy", others)
        self.assertIn("LockBucket", others)
        self.assertIn("LockBucketPolicy", others)
        for logical_id, resource in others.items():
            with self.subTest(resource=logical_id):
                self.assertEqual(self.plain["Resources"][logical_id], resource)

    def test_every_parameter_and_condition_is_template_yamls(self):
        for name, parameter in self.sam["Parameters"].items():
            with self.subTest(parameter=name):
                self.assertEqual(self.plain["Parameters"][name], parameter)
        for name in fence.GUARDRAIL_PARAMETERS:
            self.assertIn(name, self.plain["Parameters"])
        for name, condition in self.sam.get("Conditions", {}).items():
            self.assertEqual(self.plain["Conditions"][name], condition)
        added = set(self.plain["Parameters"]) - set(self.sam["Parameters"])
        self.assertEqual(added, set(package_template.CODE_PARAMETERS))

    def test_the_function_keeps_every_property(self):
        sam = self.sam["Resources"][FUNCTION]["Properties"]
        plain = self.plain["Resources"][FUNCTION]["Properties"]
        for key, value in sam.items():
            if key in package_template.TRANSLATED_PROPERTIES:
                self.assertNotIn(key, plain)
            else:
                with self.subTest(property=key):
                    self.assertEqual(plain[key], value)
        self.assertEqual(set(plain) - set(sam), {"Code"})

    def test_the_function_keeps_its_scanner_metadata_but_not_the_build(self):
        sam = self.sam["Resources"][FUNCTION]["Metadata"]
        plain = self.plain["Resources"][FUNCTION]["Metadata"]
        self.assertEqual(plain["checkov"], sam["checkov"])
        self.assertNotIn("BuildMethod", plain)

    def test_event_invoke_config_as_sam_writes_it(self):
        sam = self.sam["Resources"][FUNCTION]["Properties"]["EventInvokeConfig"]
        config = self.plain["Resources"][f"{FUNCTION}EventInvokeConfig"]
        self.assertEqual(config["Type"], "AWS::Lambda::EventInvokeConfig")
        self.assertEqual(
            config["Properties"], {"FunctionName": {"Ref": FUNCTION}, "Qualifier": "$LATEST", **sam}
        )

    def test_code_from_the_s3_parameters(self):
        for suffix, bucket in (("false", "artifacts"), ("true", "artifacts-eu-west-1")):
            with self.subTest(CodeS3BucketRegionSuffix=suffix):
                deployment = fence.DeployedTemplate(self.plain, {
                    "AllowedBuckets": ["b"], "CodeS3Bucket": "artifacts",
                    "CodeS3Key": "vendor-access/0.1.0/arm64/bootstrap.zip",
                    "CodeS3BucketRegionSuffix": suffix,
                })
                code = deployment.resolve(self.plain["Resources"][FUNCTION]["Properties"]["Code"])
                self.assertEqual(code, {"S3Bucket": bucket, "S3Key": "vendor-access/0.1.0/arm64/bootstrap.zip"})

    def test_exports_by_stack_name_or_a_fixed_prefix(self):
        for prefix, expected in (("", "vendor-access-ServiceToken"), ("shared", "shared-ServiceToken")):
            with self.subTest(ExportPrefix=prefix):
                deployment = fence.DeployedTemplate(self.plain, {"AllowedBuckets": ["b"], "ExportPrefix": prefix})
                deployment.pseudo["AWS::StackName"] = "vendor-access" if prefix == "" else "StackSet-x-1234"
                output = self.plain["Outputs"]["ServiceToken"]
                self.assertEqual(output["Value"], {"Fn::GetAtt": [FUNCTION, "Arn"]})
                self.assertEqual(deployment.resolve(output["Export"]["Name"]), expected)
        sam_outputs = {k: {**v, "Export": None} for k, v in self.sam["Outputs"].items()}
        plain_outputs = {k: {**v, "Export": None} for k, v in self.plain["Outputs"].items()}
        self.assertEqual(plain_outputs, sam_outputs)

    def test_every_fence_check_passes(self):
        for check in fence.CHECKS:
            if check is fence.check_service_token_exported:
                continue  # the export's name is checked above
            with self.subTest(check=check.__name__):
                self.assertEqual(check(self.plain), [])

    def test_the_plain_function_takes_turns_in_the_lock_bucket(self):
        # Concurrency above 1 is safe only with the lock bucket (check_concurrency_needs_the_lock_bucket).
        function = self.plain["Resources"][FUNCTION]["Properties"]
        self.assertEqual(function["Environment"]["Variables"][fence.LOCK_BUCKET_ENV], {"Ref": "LockBucket"})
        self.assertEqual(str(function["ReservedConcurrentExecutions"]), "20")
        self.assertEqual(fence.lock_bucket_id(self.plain), "LockBucket")
        sam = copy.deepcopy(self.sam)
        del sam["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"][fence.LOCK_BUCKET_ENV]
        self.assertTrue(fence.check_concurrency_needs_the_lock_bucket(package_template.plain_template(sam)))

    def test_the_fence_checks_see_the_plain_function(self):
        # A weakened copy of template.yaml gives a weakened plain template: the checks above
        # read the plain function's role and environment, not template.yaml's.
        sam = copy.deepcopy(self.sam)
        env = sam["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"]
        env["VENDOR_ACCESS_ALLOW_NO_BOUNDARY"] = "true"
        plain = package_template.plain_template(sam)
        self.assertTrue(fence.check_no_local_only_settings(plain))
        self.assertEqual(fence.execution_role_id(plain), "VendorAccessFunctionRole")

    def test_a_property_without_translation_stops_the_script(self):
        for key, value in (("AutoPublishAlias", "live"), ("Events", {}), ("Policies", ["AWSLambdaBasicExecutionRole"])):
            with self.subTest(property=key):
                sam = copy.deepcopy(self.sam)
                sam["Resources"][FUNCTION]["Properties"][key] = value
                with self.assertRaisesRegex(package_template.Untranslatable, key):
                    package_template.plain_template(sam)

    def test_a_new_sam_resource_or_globals_stops_the_script(self):
        sam = copy.deepcopy(self.sam)
        sam["Resources"]["Api"] = {"Type": "AWS::Serverless::Api", "Properties": {}}
        with self.assertRaisesRegex(package_template.Untranslatable, "AWS::Serverless::Api"):
            package_template.plain_template(sam)
        sam = copy.deepcopy(self.sam)
        sam["Globals"] = {"Function": {"Timeout": 3}}
        with self.assertRaisesRegex(package_template.Untranslatable, "Globals"):
            package_template.plain_template(sam)

    def test_the_written_file_is_the_translation(self):
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "vendor-access.template.yaml"
            self.assertEqual(package_template.main(["", str(fence.TEMPLATE), str(target)]), 0)
            self.assertEqual(fence.load(target), self.plain)


class ServerlessRepoMetadata(unittest.TestCase):
    """What `sam publish` requires of AWS::ServerlessRepo::Application."""

    @classmethod
    def setUpClass(cls):
        cls.app = fence.load(fence.TEMPLATE)["Metadata"]["AWS::ServerlessRepo::Application"]

    def test_the_version_is_cargos(self):
        cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
        self.assertEqual(self.app["SemanticVersion"], cargo["package"]["version"])

    def test_the_fields_follow_the_repositorys_rules(self):
        self.assertRegex(self.app["Name"], r"^[a-zA-Z0-9-]{1,140}$")
        self.assertRegex(self.app["Author"], r"^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$")
        self.assertLessEqual(len(self.app["Author"]), 127)
        self.assertLessEqual(len(self.app["Description"]), 256)
        self.assertLessEqual(len(self.app["Labels"]), 10)
        for label in self.app["Labels"]:
            self.assertRegex(label, r"^[a-zA-Z0-9+\-_:/@]{1,127}$")
        self.assertTrue((ROOT / self.app["ReadmeUrl"]).is_file())
        self.assertTrue(re.fullmatch(r"\d+\.\d+\.\d+", self.app["SemanticVersion"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
