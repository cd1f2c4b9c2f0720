"""Writes the plain CloudFormation template (no SAM transform, code from S3) from template.yaml.

StackSets, Customizations for Control Tower and Service Catalog deploy a template whose
function code is already in S3, without `sam build`. This script derives that template from
template.yaml, so the two never differ in the execution role, the permissions boundary, the
guardrail parameters or the function's settings: every resource other than the function is
copied as it is, and the function is translated property by property.

    .venv/bin/python tools/package_template.py [template.yaml] [target/package/vendor-access.template.yaml]

(a target ending in .json is written as JSON: cdk/template/vendor-access.template.json).

What changes (docs/fleet.md):
- no `Transform`; `AWS::Serverless::Function` becomes `AWS::Lambda::Function` with the same
  logical id, and its `EventInvokeConfig` an `AWS::Lambda::EventInvokeConfig` on `$LATEST`
  (what SAM writes);
- the code comes from the parameters CodeS3Bucket and CodeS3Key; CodeS3BucketRegionSuffix
  appends `-<region>` to the bucket (Lambda reads code only from a bucket of its own region,
  so a StackSet over several regions needs one bucket per region);
- ExportPrefix: the stacks a StackSet creates are named `StackSet-<name>-<uuid>`, so the
  exports can be given a fixed prefix (`vendor-access` gives `vendor-access-ServiceToken`);
  empty keeps `<stack name>-ServiceToken`;
- the SAM build and Serverless Application Repository metadata are dropped.

A function property this script does not know stops it: a new SAM-only property in
template.yaml must be translated here, never silently lost.
"""

import copy
import json
import sys
from pathlib import Path

import yaml
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "template.yaml"
TARGET = ROOT / "target" / "package" / "vendor-access.template.yaml"

SAM_FUNCTION = "AWS::Serverless::Function"

# Properties of AWS::Serverless::Function that AWS::Lambda::Function has under the same name.
SAME_PROPERTIES = (
    "Description", "Handler", "Runtime", "Architectures", "MemorySize", "Timeout",
    "ReservedConcurrentExecutions", "Role", "LoggingConfig", "Environment",
    "KmsKeyArn", "FunctionName", "Tags", "TracingConfig", "EphemeralStorage",
)
# Translated below, or SAM-only and replaced by the S3 code.
TRANSLATED_PROPERTIES = ("CodeUri", "EventInvokeConfig")
# Metadata SAM reads at build time; the rest (checkov's skips) is kept.
BUILD_METADATA = ("BuildMethod", "BuildProperties")

CODE_PARAMETERS = {
    "CodeS3Bucket": {
        "Type": "String",
        "Description": (
            "Bucket holding the function's zip (make package writes it), in the stack's region; "
            "with CodeS3BucketRegionSuffix=true the name before -<region>. Stacks of a StackSet "
            "read it with the StackSet execution role of their account: see docs/fleet.md."
        ),
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        "ConstraintDescription": "an S3 bucket name.",
    },
    "CodeS3Key": {
        "Type": "String",
        "Description": (
            "Key of the zip built for the chosen Architecture, e.g. "
            "vendor-access/0.1.0/arm64/bootstrap.zip (a binary of the other architecture "
            "fails with Runtime.InvalidEntrypoint)."
        ),
        "AllowedPattern": "^.*\\.zip$",
        "ConstraintDescription": "the key of a .zip object.",
    },
    "CodeS3BucketRegionSuffix": {
        "Type": "String",
        "Description": (
            "true: the code is read from <CodeS3Bucket>-<region>, one bucket per region "
            "(Lambda reads code only from a bucket of the function's region)."
        ),
        "AllowedValues": ["false", "true"],
        "Default": "false",
    },
    "ExportPrefix": {
        "Type": "String",
        "Description": (
            "Prefix of the exports (<prefix>-ServiceToken, <prefix>-PermissionsBoundaryArn). "
            "Set it (e.g. vendor-access) in a StackSet, whose stacks get generated names. "
            "Default \"\" = the stack name."
        ),
        "AllowedPattern": "^$|^[A-Za-z][A-Za-z0-9-]*$",
        "Default": "",
    },
}
CODE_CONDITIONS = {
    "CodeBucketPerRegion": {"Fn::Equals": [{"Ref": "CodeS3BucketRegionSuffix"}, "true"]},
    "HasExportPrefix": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExportPrefix"}, ""]}]},
}
CODE = {
    "S3Bucket": {
        "Fn::If": [
            "CodeBucketPerRegion",
            {"Fn::Sub": "${CodeS3Bucket}-${AWS::Region}"},
            {"Ref": "CodeS3Bucket"},
        ]
    },
    "S3Key": {"Ref": "CodeS3Key"},
}
STACK_EXPORT = "${AWS::StackName}-"


class Untranslatable(Exception):
    """template.yaml uses something this script cannot carry into a plain template."""


def load(path):
    """The template as plain data, intrinsic functions in their long form."""
    template, matches = decode(str(path))
    if matches:
        raise Untranslatable(f"{path} does not parse: {[str(m) for m in matches]}")
    return json.loads(json.dumps(template))


def plain_function(logical_id, function):
    """(the AWS::Lambda::Function, the extra resources it needs) for a SAM function."""
    properties = function.get("Properties", {})
    unknown = sorted(set(properties) - set(SAME_PROPERTIES) - set(TRANSLATED_PROPERTIES))
    if unknown:
        raise Untranslatable(
            f"{logical_id}: no translation for the SAM function properties {unknown}; "
            "add one to tools/package_template.py"
        )
    plain = {key: value for key, value in function.items() if key not in ("Type", "Properties", "Metadata")}
    plain["Type"] = "AWS::Lambda::Function"
    metadata = {k: v for k, v in function.get("Metadata", {}).items() if k not in BUILD_METADATA}
    if metadata:
        plain["Metadata"] = metadata
    plain["Properties"] = {"Code": copy.deepcopy(CODE)}
    for key in SAME_PROPERTIES:
        if key in properties:
            plain["Properties"][key] = properties[key]

    extra = {}
    invoke = properties.get("EventInvokeConfig")
    if invoke is not None:
        unknown = sorted(set(invoke) - {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"})
        if unknown:
            raise Untranslatable(f"{logical_id}: no translation for EventInvokeConfig {unknown}")
        extra[f"{logical_id}EventInvokeConfig"] = {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {"FunctionName": {"Ref": logical_id}, "Qualifier": "$LATEST", **invoke},
        }
    return plain, extra


def export_name(name):
    """`${AWS::StackName}-X` becomes `<ExportPrefix>-X` when ExportPrefix is set."""
    if isinstance(name, dict) and list(name) == ["Fn::Sub"] and isinstance(name["Fn::Sub"], str):
        text = name["Fn::Sub"]
        if text.startswith(STACK_EXPORT):
            suffix = text[len(STACK_EXPORT):]
            return {"Fn::If": ["HasExportPrefix", {"Fn::Sub": "${ExportPrefix}-" + suffix}, name]}
    raise Untranslatable(f"an export named {json.dumps(name)}, not {STACK_EXPORT}...")


def plain_template(sam):
    """The plain CloudFormation twin of the SAM template `sam` (not modified)."""
    sam = copy.deepcopy(sam)
    if sam.pop("Transform", None) not in ("AWS::Serverless-2016-10-31", ["AWS::Serverless-2016-10-31"]):
        raise Untranslatable("template.yaml is expected to use exactly the SAM transform")
    if "Globals" in sam:
        raise Untranslatable("SAM Globals are not translated")
    clash = sorted((set(CODE_PARAMETERS) & set(sam.get("Parameters", {})))
                   | (set(CODE_CONDITIONS) & set(sam.get("Conditions", {}))))
    if clash:
        raise Untranslatable(f"template.yaml already declares {clash}")

    plain = {}
    plain["AWSTemplateFormatVersion"] = sam.pop("AWSTemplateFormatVersion", "2010-09-09")
    plain["Description"] = (
        sam.pop("Description", "").rstrip()
        + " Plain CloudFormation (code from S3), generated from template.yaml by"
        " tools/package_template.py: do not edit."
    )

    metadata = sam.pop("Metadata", {})
    metadata.pop("AWS::ServerlessRepo::Application", None)
    # The code parameters stay out of the console's parameter groups: the CDK construct
    # replaces them, and a group naming a parameter that is gone fails cfn-lint (W4001).
    if metadata:
        plain["Metadata"] = metadata

    plain["Parameters"] = {**sam.pop("Parameters", {}), **copy.deepcopy(CODE_PARAMETERS)}
    plain["Conditions"] = {**sam.pop("Conditions", {}), **copy.deepcopy(CODE_CONDITIONS)}

    resources = {}
    for logical_id, resource in sam.pop("Resources").items():
        if resource.get("Type") == SAM_FUNCTION:
            function, extra = plain_function(logical_id, resource)
            resources[logical_id] = function
            resources.update(extra)
        elif str(resource.get("Type", "")).startswith("AWS::Serverless::"):
            raise Untranslatable(f"{logical_id}: no translation for {resource['Type']}")
        else:
            resources[logical_id] = resource
    plain["Resources"] = resources

    outputs = sam.pop("Outputs", {})
    for output in outputs.values():
        if "Export" in output:
            output["Export"]["Name"] = export_name(output["Export"]["Name"])
    plain["Outputs"] = outputs

    if sam:
        raise Untranslatable(f"template sections not translated: {sorted(sam)}")
    return plain


HEADER = (
    "# Generated from template.yaml by tools/package_template.py (make package-template).\n"
    "# Do not edit: change template.yaml. Deploying it: docs/fleet.md.\n"
)


def render(template):
    return HEADER + yaml.safe_dump(template, sort_keys=False, width=100, allow_unicode=True)


def main(argv):
    source = Path(argv[1]) if len(argv) > 1 else SOURCE
    target = Path(argv[2]) if len(argv) > 2 else TARGET
    try:
        template = plain_template(load(source))
        # JSON for the CDK construct (cdk/template/), which reads the parameters' defaults.
        text = json.dumps(template, indent=1) + "\n" if target.suffix == ".json" else render(template)
    except Untranslatable as e:
        print(f"package_template: {e}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
