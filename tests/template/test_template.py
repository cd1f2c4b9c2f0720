"""The function's own power, checked in template.yaml.

Whoever can write a stack can drive the function, so template.yaml fences it (SPEC.md,
"DeployedTemplate and the function's own power" and "Deployer guardrails"). These checks read the
template the way a reviewer would and fail the build when the fence is weakened:

- every IAM right of the execution role is scoped to role/vendor-access/* or user/vendor-access/*;
- creating a role or user, and writing its inline policy or boundary, require the
  iam:PermissionsBoundary condition naming the boundary policy the function is given;
- no policy in the template allows a whole service (`iam:*`, `s3:*`, `kms:*`...) or `*`;
- the boundary policy allows only S3 and KMS actions, so never an iam: one, and exactly the
  ones the function writes into a policy: S3 on the allowed buckets of this account, KMS data
  keys only through S3;
- the deployer's allow-lists (AllowedBuckets, AllowedVendors, AllowedTrustedPrincipals,
  AllowedKmsKeyArns) exist, AllowedBuckets has no default, and each reaches the function;
- the execution role writes bucket policies and CORS only on the allowed buckets, asks
  CloudFormation to confirm requests, holds no permission the code never uses, and IAM keeps
  our owner tag: a new entity or secret must carry it, an owned one cannot lose or change it;
- the function runs more than one invocation at a time (at most MAX_CONCURRENCY) only with a
  lock bucket of its own: encrypted, private, TLS-only, leases expiring, reached by the
  function as VENDOR_ACCESS_LOCK_BUCKET and by its role only under turns/; it exports its
  ServiceToken.

Checks that depend on parameter values resolve the template's intrinsic functions for a
concrete deployment (parameters, partition, account, region) and, where the question is what
IAM would decide, evaluate the resolved statements for a request (a small simulator covering
only the condition operators the template uses; an unknown one is reported, not guessed).

Each check is proved able to fail by a test that weakens a copy of the template.

Run with the project's venv (cfn-lint parses the intrinsic-function tags):
    .venv/bin/python tests/template/test_template.py [path/to/template.yaml]
"""

import copy
import fnmatch
import json
import re
import sys
import unittest
from pathlib import Path

from cfnlint.decode import decode

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

# The env var through which the function learns which boundary to put on what it creates.
BOUNDARY_ENV = "VENDOR_ACCESS_PERMISSIONS_BOUNDARY_ARN"

# IAM calls that mint an entity or set what it may do: each needs the boundary condition.
BOUNDARY_GUARDED_ACTIONS = (
    "iam:CreateRole",
    "iam:CreateUser",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutUserPermissionsBoundary",
)

# Condition operators that pin iam:PermissionsBoundary to one value. The ...IfExists forms
# would let a request without a boundary through.
BOUNDARY_OPERATORS = ("stringequals", "arnequals")

# arn:<partition>:iam::<this account>:role|user/vendor-access/...
FENCED_IAM_ARN = re.compile(
    r"^arn:(aws|\$\{AWS::Partition\}):iam::(\d{12}|\$\{AWS::AccountId\}):"
    r"(role|user)/vendor-access/[\w+=,.@/*-]*$"
)

# The one role outside the path the deployer may allow, by name, for a vendor that builds its
# role's ARN itself (Scale AI): only inside `!If [AllowScaleRole, <this ARN>, !Ref AWS::NoValue]`.
ROOT_ROLE_EXCEPTION = re.compile(
    r"^arn:(aws|\$\{AWS::Partition\}):iam::(\d{12}|\$\{AWS::AccountId\}):role/ScaleAI-Integration$"
)
ROOT_ROLE_CONDITION = "AllowScaleRole"


def is_allowed_root_role(template, resource):
    """Whether `resource` is the deployer-allowed root-path role, behind its condition."""
    if not (isinstance(resource, dict) and list(resource) == ["Fn::If"]):
        return False
    condition, value, otherwise = (resource["Fn::If"] + [None, None, None])[:3]
    allowed_only_by_parameter = (
        template.get("Conditions", {}).get(ROOT_ROLE_CONDITION)
        == {"Fn::Equals": [{"Ref": "AllowedRootRoleNames"}, "ScaleAI-Integration"]}
    )
    text = arn_text(value)
    return (
        condition == ROOT_ROLE_CONDITION
        and allowed_only_by_parameter
        and otherwise == {"Ref": "AWS::NoValue"}
        and text is not None
        and ROOT_ROLE_EXCEPTION.match(text) is not None
    )


FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


def load(path=TEMPLATE):
    """The template as plain JSON-like data, intrinsic functions in their long form."""
    template, matches = decode(str(path))
    if matches:
        raise ValueError(f"{path} does not parse: {matches}")
    return json.loads(json.dumps(template))


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements(document):
    return as_list((document or {}).get("Statement"))


def label(statement):
    return statement.get("Sid") or json.dumps(statement.get("Action"))


def service_may_match(action, service):
    """Whether the action pattern can match an action of the service (`*` matches all)."""
    return fnmatch.fnmatchcase(service, action.split(":", 1)[0].lower())


def matches_action(pattern, action):
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def arn_text(value):
    """A resource ARN as text: a literal, or the string of a Fn::Sub. None if not checkable."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and list(value) == ["Fn::Sub"]:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None


def resources_of(template, *types):
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") in types
    }


def the_function(template):
    functions = resources_of(template, *FUNCTION_TYPES)
    if len(functions) != 1:
        raise AssertionError(f"expected one function, found {sorted(functions)}")
    return next(iter(functions.items()))


def execution_role_id(template):
    """The logical id of the role the function runs as (its `Role: !GetAtt X.Arn`)."""
    _, function = the_function(template)
    role = function.get("Properties", {}).get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        logical_id = target[0] if isinstance(target, list) else target.split(".")[0]
        if logical_id in resources_of(template, "AWS::IAM::Role"):
            return logical_id
    return None


def boundary_policy_id(template):
    """The managed policy the function puts on everything it creates (via its environment)."""
    _, function = the_function(template)
    variables = function.get("Properties", {}).get("Environment", {}).get("Variables", {})
    ref = variables.get(BOUNDARY_ENV)
    if isinstance(ref, dict) and list(ref) == ["Ref"]:
        if ref["Ref"] in resources_of(template, "AWS::IAM::ManagedPolicy"):
            return ref["Ref"]
    return None


def execution_role_documents(template):
    """(where, policy document) for every identity policy the execution role holds."""
    role_id = execution_role_id(template)
    if role_id is None:
        return []
    role = template["Resources"][role_id].get("Properties", {})
    documents = [
        (f"{role_id} policy {policy.get('PolicyName')}", policy.get("PolicyDocument"))
        for policy in role.get("Policies", [])
    ]
    for logical_id, resource in resources_of(
        template, "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"
    ).items():
        properties = resource.get("Properties", {})
        attached = as_list(properties.get("Roles")) + as_list(properties.get("RoleName"))
        if {"Ref": role_id} in attached:
            documents.append((logical_id, properties.get("PolicyDocument")))
    return documents


def all_policy_documents(template):
    """(where, document) for every policy document anywhere in the template's resources."""
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("PolicyDocument", "AssumeRolePolicyDocument") and isinstance(value, dict):
                    found.append((where, value))
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for logical_id, resource in template.get("Resources", {}).items():
        walk(resource, logical_id)
    return found


# ---- the checks: each returns a list of problems, empty when the template is sound ----


def check_iam_rights_fenced_to_path(template):
    """Every Allow with an iam: action names only role/vendor-access/* or user/vendor-access/*."""
    role_id = execution_role_id(template)
    if role_id is None:
        return ["the function's Role is not a !GetAtt of an AWS::IAM::Role in this template"]
    problems = []
    role = template["Resources"][role_id].get("Properties", {})
    if role.get("ManagedPolicyArns"):
        problems.append(f"{role_id} attaches managed policies this check cannot read: {role['ManagedPolicyArns']}")
    if str(role.get("Path", "/")).startswith("/vendor-access/"):
        problems.append(f"{role_id} is under /vendor-access/: the function could manage its own role")
    for where, document in execution_role_documents(template):
        for statement in statements(document):
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement or "NotResource" in statement:
                problems.append(f"{where} {label(statement)}: an Allow with NotAction/NotResource grants more than it names")
                continue
            iam_actions = [a for a in as_list(statement.get("Action")) if service_may_match(a, "iam")]
            if not iam_actions:
                continue
            for resource in as_list(statement.get("Resource")):
                if is_allowed_root_role(template, resource):
                    continue
                text = arn_text(resource)
                if text is None or not FENCED_IAM_ARN.match(text):
                    problems.append(
                        f"{where} {label(statement)}: {iam_actions} on {json.dumps(resource)}, "
                        "outside role/vendor-access/* and user/vendor-access/*"
                    )
    return problems


def check_creation_requires_boundary(template):
    """The guarded IAM actions appear only with iam:PermissionsBoundary = the boundary policy."""
    boundary = boundary_policy_id(template)
    if boundary is None:
        return [f"the function's {BOUNDARY_ENV} is not a !Ref of a managed policy in this template"]
    problems = []
    for where, document in execution_role_documents(template):
        for statement in statements(document):
            if statement.get("Effect") != "Allow":
                continue
            guarded = sorted(
                action
                for action in BOUNDARY_GUARDED_ACTIONS
                if any(matches_action(pattern, action) for pattern in as_list(statement.get("Action")))
            )
            if guarded and not requires_boundary(statement.get("Condition", {}), boundary):
                problems.append(
                    f"{where} {label(statement)}: {guarded} without the condition "
                    f"iam:PermissionsBoundary = !Ref {boundary}"
                )
    return problems


def requires_boundary(condition, boundary):
    for operator, keys in condition.items():
        if operator.lower() not in BOUNDARY_OPERATORS:
            continue
        for key, value in keys.items():
            if key.lower() == "iam:permissionsboundary" and as_list(value) == [{"Ref": boundary}]:
                return True
    return False


# Changing or deleting an existing role or user: IAM must see our owner tag on it.
OWNER_GUARDED_ACTIONS = (
    "iam:UpdateRole", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:DeleteRolePolicy",
    "iam:UntagRole", "iam:DeleteUser", "iam:DeleteUserPolicy", "iam:CreateAccessKey",
    "iam:DeleteAccessKey", "iam:UntagUser",
)
OWNER_TAG_KEY = "aws:resourcetag/vendor-access:owner"


def check_changes_require_owner_tag(template):
    """Actions that change an existing role or user carry the owner-tag condition."""
    problems = []
    for where, document in execution_role_documents(template):
        for statement in statements(document):
            if statement.get("Effect") != "Allow":
                continue
            guarded = sorted(
                action
                for action in OWNER_GUARDED_ACTIONS
                if any(matches_action(pattern, action) for pattern in as_list(statement.get("Action")))
            )
            condition = statement.get("Condition", {})
            tagged = any(
                key.lower() == OWNER_TAG_KEY
                for operator, keys in condition.items()
                if not operator.lower().endswith("ifexists")
                for key in keys
            )
            if guarded and not tagged:
                problems.append(f"{where} {label(statement)}: {guarded} without the owner-tag condition")
    return problems


def check_no_service_wildcards(template):
    """No policy in the template allows `*` or a whole service (`iam:*`, `s3:*`, `kms:*`...)."""
    problems = []
    for where, document in all_policy_documents(template):
        for statement in statements(document):
            if statement.get("Effect") != "Allow":
                continue
            for action in as_list(statement.get("Action")) + as_list(statement.get("NotAction")):
                if isinstance(action, str) and (action == "*" or action.endswith(":*")):
                    problems.append(f"{where} {label(statement)}: allows {action}")
    return problems


def check_boundary_allows_only_s3_and_kms(template):
    """The boundary allows no iam: action (nor anything outside S3 and KMS)."""
    boundary = boundary_policy_id(template)
    if boundary is None:
        return [f"the function's {BOUNDARY_ENV} is not a !Ref of a managed policy in this template"]
    document = template["Resources"][boundary].get("Properties", {}).get("PolicyDocument")
    problems = []
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            problems.append(f"{boundary} {label(statement)}: NotAction in the boundary allows iam: actions")
        for action in as_list(statement.get("Action")):
            if service_may_match(action, "iam"):
                problems.append(f"{boundary} {label(statement)}: the boundary allows the iam action {action}")
            elif not (action.lower().startswith("s3:") or action.lower().startswith("kms:")):
                problems.append(f"{boundary} {label(statement)}: the boundary allows {action}, not an S3 or KMS action")
    return problems


# Reserved concurrency is taken from the account's regional pool (1000 by default, of which
# Lambda keeps 100 unreserved): the function asks for a bounded share.
MAX_CONCURRENCY = 50
LOCK_BUCKET_ENV = "VENDOR_ACCESS_LOCK_BUCKET"
# What taking, renewing and releasing a lease calls (conditional PutObject, GetObject,
# DeleteObject with If-Match, which needs GetObject too).
LEASE_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")


def lock_bucket_id(template):
    """The logical id of the bucket the function is given as VENDOR_ACCESS_LOCK_BUCKET, when
    that is a !Ref of an AWS::S3::Bucket of the template."""
    _, function = the_function(template)
    variables = function.get("Properties", {}).get("Environment", {}).get("Variables", {})
    given = variables.get(LOCK_BUCKET_ENV)
    target = given.get("Ref") if isinstance(given, dict) else None
    if target in resources_of(template, "AWS::S3::Bucket"):
        return target
    return None


def lease_arn(lock_bucket):
    """The lease objects' ARN as the resolver writes `${LockBucket.Arn}/turns/*`."""
    return f"<{lock_bucket}.Arn>/turns/*"


def is_lease_statement(statement, lock_bucket):
    """An execution-role statement on the lock bucket's leases (and only on them)."""
    resources = as_list(statement.get("Resource"))
    return lock_bucket is not None and resources == [lease_arn(lock_bucket)]


def check_concurrency_needs_the_lock_bucket(template):
    """ReservedConcurrentExecutions is set and at most MAX_CONCURRENCY; above 1 only when the
    function is given a lock bucket of the template (writers of one bucket document take
    turns through it; without it merges would race)."""
    logical_id, function = the_function(template)
    reserved = function.get("Properties", {}).get("ReservedConcurrentExecutions")
    try:
        count = int(str(reserved))
    except ValueError:
        return [f"{logical_id}: ReservedConcurrentExecutions is {reserved}, not a number from 1 to {MAX_CONCURRENCY}"]
    if not 1 <= count <= MAX_CONCURRENCY:
        return [f"{logical_id}: ReservedConcurrentExecutions is {count}, not from 1 to {MAX_CONCURRENCY}"]
    if count > 1 and lock_bucket_id(template) is None:
        return [
            f"{logical_id}: ReservedConcurrentExecutions is {count} without a lock bucket "
            f"({LOCK_BUCKET_ENV} is not a !Ref of a bucket of the template): merges would race"
        ]
    return []


def check_lock_bucket_fenced(template):
    """The lock bucket is encrypted, blocks public access, expires stale leases and refuses
    plain HTTP; the execution role may get, put and delete objects under turns/ in it and
    nowhere else, in this account."""
    lock = lock_bucket_id(template)
    if lock is None:
        return []
    problems = []
    properties = template["Resources"][lock].get("Properties", {})
    if not properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration"):
        problems.append(f"{lock}: no default encryption")
    block = properties.get("PublicAccessBlockConfiguration", {})
    for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
        if str(block.get(setting)).lower() != "true":
            problems.append(f"{lock}: {setting} is not true")
    rules = properties.get("LifecycleConfiguration", {}).get("Rules", [])
    if not any(str(r.get("Status")) == "Enabled" and r.get("ExpirationInDays") for r in rules):
        problems.append(f"{lock}: no enabled lifecycle rule expires stale leases")
    tls_only = False
    for logical_id, policy in resources_of(template, "AWS::S3::BucketPolicy").items():
        if policy.get("Properties", {}).get("Bucket") != {"Ref": lock}:
            continue
        for statement in statements(policy["Properties"].get("PolicyDocument")):
            condition = statement.get("Condition", {}).get("Bool", {})
            if (
                statement.get("Effect") == "Deny"
                and str(condition.get("aws:SecureTransport")).lower() == "false"
                and statement.get("Principal") in ("*", {"AWS": "*"})
            ):
                tls_only = True
    if not tls_only:
        problems.append(f"{lock}: no bucket policy denies requests without TLS (aws:SecureTransport false)")
    deployment = DeployedTemplate(template, {"AllowedBuckets": ["b"]})
    try:
        execution = deployment.execution_statements()
    except Unresolvable as e:
        return problems + [f"the execution role does not resolve: {e}"]
    granted = set()
    for statement in execution:
        if statement.get("Effect") != "Allow":
            continue
        actions = [a for a in as_list(statement.get("Action")) if service_may_match(a, "s3")]
        leases = [a for a in actions if any(matches_action(a, lease) for lease in LEASE_ACTIONS)]
        if not leases:
            continue
        resources = as_list(statement.get("Resource"))
        on_leases = [r for r in resources if isinstance(r, str) and r.startswith(f"<{lock}.Arn>")]
        if on_leases and on_leases != [lease_arn(lock)]:
            problems.append(f"{label(statement)}: {leases} on {on_leases}, not only {lease_arn(lock)}")
        if on_leases and not resource_account_pinned(statement, deployment.account):
            problems.append(f"{label(statement)} lacks StringEquals aws:ResourceAccount = this account")
        if on_leases:
            granted.update(a.lower() for a in leases)
    missing = [a for a in LEASE_ACTIONS if a.lower() not in granted]
    if missing:
        problems.append(f"no Allow of {missing} on {lease_arn(lock)}: turns cannot be taken")
    return problems


def check_service_token_exported(template):
    """Output ServiceToken = the function ARN, exported as <stack>-ServiceToken."""
    logical_id, _ = the_function(template)
    output = template.get("Outputs", {}).get("ServiceToken")
    if output is None:
        return ["no ServiceToken output"]
    problems = []
    if output.get("Value") != {"Fn::GetAtt": [logical_id, "Arn"]}:
        problems.append(f"ServiceToken is {json.dumps(output.get('Value'))}, not {logical_id}'s ARN")
    expected = {"Fn::Sub": "${AWS::StackName}-ServiceToken"}
    if output.get("Export", {}).get("Name") != expected:
        problems.append(f"ServiceToken is not exported as {json.dumps(expected)}")
    return problems


# ---- resolving a deployment: the template's intrinsic functions for concrete values ----

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "999999999999"
REGION = "eu-west-1"
# The three partitions the template names, and one it does not (its fallback branch).
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso-b")
# AllowedBuckets values the bucket checks deploy with: patterns, one name, everything.
SAMPLE_BUCKET_LISTS = (["datalake-*", "ml-results"], ["only-this-bucket"], ["*"])

GUARDRAIL_PARAMETERS = {
    # parameter: (the function's environment variable, its Default; None = must have none)
    "AllowedBuckets": ("VENDOR_ACCESS_ALLOWED_BUCKETS", None),
    "AllowedVendors": ("VENDOR_ACCESS_ALLOWED_VENDORS", "*"),
    "AllowedTrustedPrincipals": ("VENDOR_ACCESS_ALLOWED_TRUSTED_PRINCIPALS", ""),
    "AllowedKmsKeyArns": ("VENDOR_ACCESS_ALLOWED_KMS_KEY_ARNS", ""),
}
GUARDRAIL_GROUP = "Guardrails"
# Values the environment check deploys with, one realistic list per parameter.
SAMPLE_GUARDRAIL_VALUES = {
    "AllowedBuckets": ["datalake-*", "ml-results"],
    "AllowedVendors": ["lightly", "kolena"],
    "AllowedTrustedPrincipals": ["111122223333", "arn:aws:iam::444455556666:role/ingest"],
    "AllowedKmsKeyArns": ["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
}

NO_VALUE = object()


class Unresolvable(Exception):
    """The template uses an intrinsic function, or a form of one, this resolver cannot read."""


class DeployedTemplate:
    """template.yaml deployed with these parameters, in this partition, account and region.

    `resolve` evaluates Ref, Fn::Sub, Fn::Join, Fn::Split, Fn::Select, Fn::If and the
    conditions the way CloudFormation would; references to resources become placeholders
    ("<LogicalId>", "<LogicalId.Attribute>").
    """

    def __init__(self, template, parameters=None, partition="aws", account=ACCOUNT, region=REGION):
        self.template = template
        self.partition, self.account, self.region = partition, account, region
        self.pseudo = {
            "AWS::Partition": partition,
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::StackName": "vendor-access",
            "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
        }
        given = dict(parameters or {})
        self.values = {}
        for name, declared in template.get("Parameters", {}).items():
            value = given.pop(name, declared.get("Default"))
            if value is None:
                continue  # no value: resolving a Ref to it raises
            if declared.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.values[name] = value
        if given:
            raise Unresolvable(f"parameters the template does not declare: {sorted(given)}")

    def condition(self, name):
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.values:
            return self.values[name]
        if name in self.template.get("Parameters", {}):
            raise Unresolvable(f"parameter {name} has no value and no Default")
        if name in self.template.get("Resources", {}):
            return f"<{name}>"
        raise Unresolvable(f"Ref to unknown {name}")

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, argument), = node.items()
            function = getattr(self, "fn_" + key.replace("::", "_").replace("Fn_", ""), None)
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                if function is None:
                    raise Unresolvable(f"{key} is not supported by the test's resolver")
                return function(argument)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def fn_Sub(self, argument):
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        if not isinstance(text, str):
            raise Unresolvable("Fn::Sub's string must be a literal")
        variables = {name: self.resolve(value) for name, value in variables.items()}

        def substitute(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and name.split(".")[0] in self.template.get("Resources", {}):
                value = f"<{name}>"
            else:
                value = self.ref(name)
            if not isinstance(value, str):
                raise Unresolvable(f"Fn::Sub variable {name} is {value!r}, not a string")
            return value

        return re.sub(r"\$\{([^}]+)\}", substitute, text)

    def fn_Join(self, argument):
        delimiter, values = argument
        if not isinstance(delimiter, str):
            # CloudFormation refuses this too: the delimiter must be a literal.
            raise Unresolvable(f"Fn::Join's delimiter must be a literal, not {delimiter!r}")
        values = self.resolve(values)
        if not all(isinstance(v, str) for v in values):
            raise Unresolvable(f"Fn::Join of {values!r}")
        return delimiter.join(values)

    def fn_Split(self, argument):
        delimiter, text = argument
        text = self.resolve(text)
        if not isinstance(delimiter, str) or not isinstance(text, str):
            raise Unresolvable(f"Fn::Split of {argument!r}")
        return text.split(delimiter)

    def fn_Select(self, argument):
        index, values = argument
        return self.resolve(values)[int(self.resolve(index))]

    def fn_If(self, argument):
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def fn_Equals(self, argument):
        left, right = (self.resolve(a) for a in argument)
        return left == right

    def fn_Not(self, argument):
        return not self.resolve(argument[0])

    def fn_And(self, argument):
        return all(self.resolve(a) for a in argument)

    def fn_Or(self, argument):
        return any(self.resolve(a) for a in argument)

    def fn_GetAtt(self, argument):
        target = argument if isinstance(argument, str) else ".".join(argument)
        return f"<{target}>"

    # The documents the checks read, resolved.

    def boundary_statements(self):
        boundary = boundary_policy_id(self.template)
        if boundary is None:
            raise Unresolvable(f"the function's {BOUNDARY_ENV} is not a !Ref of a managed policy")
        document = self.template["Resources"][boundary]["Properties"]["PolicyDocument"]
        return statements(self.resolve(document))

    def execution_statements(self):
        return [s for _, d in execution_role_documents(self.template) for s in statements(self.resolve(d))]

    def function_environment(self):
        _, function = the_function(self.template)
        variables = function.get("Properties", {}).get("Environment", {}).get("Variables", {})
        return self.resolve(variables)


def bucket_arns(partition, buckets):
    return {f"arn:{partition}:s3:::{bucket}" for bucket in buckets}


def object_arns(partition, buckets):
    return {f"arn:{partition}:s3:::{bucket}/*" for bucket in buckets}


def same_partition(arns, partition):
    """ARNs with a `*` partition written as `partition`'s: a policy is only ever evaluated
    within its own partition, so `arn:*:s3:::b` is exactly `arn:<partition>:s3:::b` there
    (the template's fallback for partitions it does not name). Anything but a string (a
    nested list, an unresolved function) is kept as its JSON, so it never equals an ARN."""
    return {
        re.sub(r"^arn:\*:", f"arn:{partition}:", arn) if isinstance(arn, str) else json.dumps(arn)
        for arn in arns
    }


def with_extra(resource, arn):
    """A Resource (a list built by the template's functions) with one more ARN, the way a
    template could write it: Split(",", Join(",", [Join(",", resource), arn]))."""
    return {"Fn::Split": [",", {"Fn::Join": [",", [{"Fn::Join": [",", resource]}, arn]]}]}


def sample_deployments(template, buckets_lists=SAMPLE_BUCKET_LISTS, partitions=PARTITIONS):
    """(label, deployment, buckets) for every sample AllowedBuckets in every partition."""
    for buckets in buckets_lists:
        for partition in partitions:
            deployment = DeployedTemplate(template, {"AllowedBuckets": buckets}, partition=partition)
            yield f"{partition} AllowedBuckets={','.join(buckets)}", deployment, buckets


# ---- a small IAM simulator: what the resolved statements decide for one request ----


class UnsupportedCondition(Exception):
    pass


def glob(pattern, value, ignore_case=False):
    """IAM's wildcards: `*` any run of characters, `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


MATCHERS = {
    "stringequals": lambda policy, value: policy == value,
    "stringequalsignorecase": lambda policy, value: policy.lower() == value.lower(),
    "stringlike": glob,
    "arnequals": lambda policy, value: policy == value,
    "arnlike": glob,
}


def condition_holds(operator, key, policy_values, context):
    """One condition key under one operator, against the request context (lowercase keys,
    list values). Raises UnsupportedCondition rather than guess an operator's meaning."""
    op = operator.lower()
    qualifier = None
    for prefix in ("forallvalues:", "foranyvalue:"):
        if op.startswith(prefix):
            qualifier, op = prefix[:-1], op[len(prefix):]
    if_exists = op.endswith("ifexists")
    if if_exists:
        op = op[: -len("ifexists")]
    present = context.get(key.lower()) or []
    if op == "null":
        wants_absent = str(as_list(policy_values)[0]).lower() == "true"
        return (not present) == wants_absent
    if op not in MATCHERS:
        raise UnsupportedCondition(operator)
    match = MATCHERS[op]
    wanted = [str(v) for v in as_list(policy_values)]
    if not present:
        return qualifier == "forallvalues" or if_exists
    if qualifier == "forallvalues":
        return all(any(match(w, v) for w in wanted) for v in present)
    return any(match(w, v) for v in present for w in wanted)


def statement_applies(statement, action, resource, context):
    if "NotAction" in statement or "NotResource" in statement or "NotPrincipal" in statement:
        raise UnsupportedCondition("NotAction/NotResource/NotPrincipal")
    if not any(glob(pattern, action, ignore_case=True) for pattern in as_list(statement.get("Action"))):
        return False
    if not any(glob(pattern, resource) for pattern in as_list(statement.get("Resource"))):
        return False
    return all(
        condition_holds(operator, key, values, context)
        for operator, keys in (statement.get("Condition") or {}).items()
        for key, values in keys.items()
    )


def decide(statements_, action, resource, context=None):
    """"Deny" (an explicit Deny applies), "Allow", or "NotAllowed" (no Allow applies)."""
    context = {key.lower(): as_list(value) for key, value in (context or {}).items()}
    applying = [s for s in statements_ if statement_applies(s, action, resource, context)]
    if any(s.get("Effect") == "Deny" for s in applying):
        return "Deny"
    return "Allow" if any(s.get("Effect") == "Allow" for s in applying) else "NotAllowed"


# ---- the guardrail checks ----

OWNER = "vendor-access:owner"
OWNER_VALUE = "arn:aws:cloudformation:eu-west-1:123456789012:stack/data/guid/LightlyInput"


def check_guardrail_parameters(template):
    """The four allow-lists exist as CommaDelimitedList parameters in the Guardrails group;
    AllowedBuckets has no Default (the deployer must choose); the others default as documented."""
    problems = []
    declared = template.get("Parameters", {})
    groups = (
        template.get("Metadata", {}).get("AWS::CloudFormation::Interface", {}).get("ParameterGroups", [])
    )
    grouped = {
        name
        for group in groups
        if group.get("Label", {}).get("default") == GUARDRAIL_GROUP
        for name in group.get("Parameters", [])
    }
    for name, (_, default) in GUARDRAIL_PARAMETERS.items():
        parameter = declared.get(name)
        if parameter is None:
            problems.append(f"no parameter {name}")
            continue
        if parameter.get("Type") != "CommaDelimitedList":
            problems.append(f"{name} is a {parameter.get('Type')}, not a CommaDelimitedList")
        if default is None and "Default" in parameter:
            problems.append(
                f"{name} has a Default ({parameter['Default']!r}): the deployer must choose the buckets"
            )
        elif default is not None and parameter.get("Default") != default:
            problems.append(f"{name} defaults to {parameter.get('Default')!r}, not {default!r}")
        if name not in grouped:
            problems.append(f"{name} is not in the {GUARDRAIL_GROUP} parameter group")
    return problems


def check_guardrails_reach_the_function(template):
    """Each allow-list reaches the function's environment under its name, comma-joined,
    and its default reaches it as the default ("" for none)."""
    problems = []
    for case, values in (("sample values", SAMPLE_GUARDRAIL_VALUES), ("defaults", None)):
        parameters = dict(values or {"AllowedBuckets": ["datalake-*"]})
        try:
            environment = DeployedTemplate(template, parameters).function_environment()
        except Unresolvable as e:
            return [f"the function's environment does not resolve: {e}"]
        for name, (variable, default) in GUARDRAIL_PARAMETERS.items():
            expected = ",".join(parameters[name]) if name in parameters else default
            if variable not in environment:
                problems.append(f"the function has no {variable} (from {name})")
            elif environment[variable] != expected:
                problems.append(
                    f"with {case}, {variable} is {environment[variable]!r}, not {expected!r} (from {name})"
                )
    return list(dict.fromkeys(problems))


def resource_account_pinned(statement, account):
    for operator, keys in (statement.get("Condition") or {}).items():
        if operator.lower() != "stringequals":
            continue
        for key, value in keys.items():
            if key.lower() == "aws:resourceaccount" and as_list(value) == [account]:
                return True
    return False


S3_BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation")
S3_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject")
# Exactly what the function ever writes into a role's or user's policy.
BOUNDARY_ACTIONS = S3_BUCKET_ACTIONS + S3_OBJECT_ACTIONS + ("kms:Decrypt", "kms:GenerateDataKey")


def check_boundary_s3_follows_allowed_buckets(template):
    """The boundary's S3 statements name exactly the allowed buckets (listing) and their
    objects (data), in every partition, each with aws:ResourceAccount = this account."""
    problems = []
    for where, deployment, buckets in sample_deployments(template):
        try:
            boundary = deployment.boundary_statements()
        except Unresolvable as e:
            return [f"the boundary does not resolve: {e}"]
        partition = deployment.partition
        for statement in boundary:
            actions = [a for a in as_list(statement.get("Action")) if a.lower().startswith("s3:")]
            if statement.get("Effect") != "Allow" or not actions:
                continue
            resources = same_partition(as_list(statement.get("Resource")), partition)
            if all(a in S3_BUCKET_ACTIONS for a in actions):
                expected = bucket_arns(partition, buckets)
            elif all(a in S3_OBJECT_ACTIONS for a in actions):
                expected = object_arns(partition, buckets)
            else:
                problems.append(f"{where}: {label(statement)} mixes bucket and object actions: {actions}")
                continue
            if resources != expected:
                problems.append(
                    f"{where}: {label(statement)} is on {sorted(resources)}, not {sorted(expected)}"
                )
            if not resource_account_pinned(statement, deployment.account):
                problems.append(
                    f"{where}: {label(statement)} lacks StringEquals aws:ResourceAccount = this account"
                )
    return list(dict.fromkeys(problems))


def check_boundary_allows_exactly_what_the_function_writes(template):
    """The boundary's Allow actions are exactly the listing, object and KMS data actions the
    function writes into policies: no object versions, multipart, Encrypt, ReEncrypt*, ..."""
    try:
        boundary = DeployedTemplate(template, {"AllowedBuckets": ["b"]}).boundary_statements()
    except Unresolvable as e:
        return [f"the boundary does not resolve: {e}"]
    allowed = [
        (label(s), a)
        for s in boundary
        if s.get("Effect") == "Allow"
        for a in as_list(s.get("Action")) + as_list(s.get("NotAction"))
    ]
    expected = {a.lower() for a in BOUNDARY_ACTIONS}
    problems = [
        f"the boundary allows {action} ({where}): not an action the function writes into a policy"
        for where, action in allowed
        if action.lower() not in expected
    ]
    present = {action.lower() for _, action in allowed}
    problems += [
        f"the boundary does not allow {action}, which the function writes into policies"
        for action in BOUNDARY_ACTIONS
        if action.lower() not in present
    ]
    return problems


def check_boundary_kms_only_through_s3(template):
    """Every KMS action of the boundary carries kms:ViaService = s3.<region>.amazonaws.com."""
    problems = []
    for region in (REGION, "us-east-1"):
        deployment = DeployedTemplate(template, {"AllowedBuckets": ["b"]}, region=region)
        try:
            boundary = deployment.boundary_statements()
        except Unresolvable as e:
            return [f"the boundary does not resolve: {e}"]
        via = f"s3.{region}.amazonaws.com"
        for statement in boundary:
            kms = [a for a in as_list(statement.get("Action")) if service_may_match(a, "kms")]
            if statement.get("Effect") != "Allow" or not kms:
                continue
            pinned = any(
                operator.lower() == "stringequals"
                and key.lower() == "kms:viaservice"
                and as_list(value) == [via]
                for operator, keys in (statement.get("Condition") or {}).items()
                for key, value in keys.items()
            )
            if not pinned:
                problems.append(f"{label(statement)}: {kms} without StringEquals kms:ViaService = {via}")
    return list(dict.fromkeys(problems))


def check_bucket_documents_only_on_allowed_buckets(template):
    """The execution role's S3 rights (bucket policy, CORS, encryption, HeadBucket) are on the
    allowed buckets only, with aws:ResourceAccount = this account; never on objects."""
    problems = []
    for where, deployment, buckets in sample_deployments(template):
        try:
            execution = deployment.execution_statements()
        except Unresolvable as e:
            return [f"the execution role does not resolve: {e}"]
        allowed_arns = bucket_arns(deployment.partition, buckets)
        lock = lock_bucket_id(template)
        seen = False
        for statement in execution:
            actions = [a for a in as_list(statement.get("Action")) if service_may_match(a, "s3")]
            if statement.get("Effect") != "Allow" or not actions:
                continue
            if is_lease_statement(statement, lock):
                continue  # check_lock_bucket_fenced
            seen = True
            resources = same_partition(as_list(statement.get("Resource")), deployment.partition)
            outside = sorted(r for r in resources if r not in allowed_arns)
            if outside:
                problems.append(f"{where}: {label(statement)} {actions} on {outside}, not an allowed bucket")
            if not resource_account_pinned(statement, deployment.account):
                problems.append(
                    f"{where}: {label(statement)} lacks StringEquals aws:ResourceAccount = this account"
                )
        if not seen:
            problems.append(f"{where}: no execution-role statement allows the bucket-document actions")
    return list(dict.fromkeys(problems))


def check_stack_requests_confirmed(template):
    """cloudformation:DescribeStackResource is allowed, on this account's and region's stacks only."""
    deployment = DeployedTemplate(template, {"AllowedBuckets": ["b"]})
    try:
        execution = deployment.execution_statements()
    except Unresolvable as e:
        return [f"the execution role does not resolve: {e}"]
    expected = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/*/*"
    found, problems = False, []
    for statement in execution:
        actions = [a for a in as_list(statement.get("Action")) if service_may_match(a, "cloudformation")]
        if statement.get("Effect") != "Allow" or not actions:
            continue
        if any(matches_action(a, "cloudformation:DescribeStackResource") for a in actions):
            found = True
        resources = as_list(statement.get("Resource"))
        if resources != [expected]:
            problems.append(f"{label(statement)}: {actions} on {resources}, not only {expected}")
    if not found:
        problems.append("no Allow of cloudformation:DescribeStackResource: requests cannot be confirmed")
    return problems


# Every action the execution role may be allowed, with the calls it authorises: the code's
# complete list of AWS calls (plus the logs Lambda writes). An Allow of anything else is a
# permission the code never uses; an action here that no Allow grants breaks a call.
CODE_ACTIONS = {
    "logs:CreateLogStream": "the function's own logs (Lambda runtime)",
    "logs:PutLogEvents": "the function's own logs (Lambda runtime)",
    "cloudformation:DescribeStackResource": "DescribeStackResource (confirms every request)",
    "iam:GetRole": "GetRole",
    "iam:CreateRole": "CreateRole (with PermissionsBoundary and Tags)",
    "iam:UpdateRole": "UpdateRole",
    "iam:UpdateAssumeRolePolicy": "UpdateAssumeRolePolicy",
    "iam:DeleteRole": "DeleteRole",
    "iam:GetRolePolicy": "GetRolePolicy",
    "iam:PutRolePolicy": "PutRolePolicy",
    "iam:DeleteRolePolicy": "DeleteRolePolicy",
    "iam:ListRolePolicies": "ListRolePolicies",
    "iam:TagRole": "TagRole, and CreateRole's Tags",
    "iam:UntagRole": "UntagRole",
    "iam:GetUser": "GetUser",
    "iam:CreateUser": "CreateUser (with PermissionsBoundary and Tags)",
    "iam:DeleteUser": "DeleteUser",
    "iam:ListUserTags": "ListUserTags",
    "iam:GetUserPolicy": "GetUserPolicy",
    "iam:PutUserPolicy": "PutUserPolicy",
    "iam:DeleteUserPolicy": "DeleteUserPolicy",
    "iam:ListUserPolicies": "ListUserPolicies",
    "iam:TagUser": "TagUser, and CreateUser's Tags",
    "iam:UntagUser": "UntagUser",
    "iam:CreateAccessKey": "CreateAccessKey",
    "iam:DeleteAccessKey": "DeleteAccessKey",
    "iam:ListAccessKeys": "ListAccessKeys",
    "kms:DescribeKey": "DescribeKey",
    "kms:GetKeyPolicy": "GetKeyPolicy",
    "kms:ListGrants": "ListGrants",
    "kms:CreateGrant": "CreateGrant",
    "kms:RetireGrant": "RetireGrant",
    "kms:RevokeGrant": "RevokeGrant",
    "s3:ListBucket": "HeadBucket",
    "s3:GetEncryptionConfiguration": "GetBucketEncryption",
    "s3:GetBucketPolicy": "GetBucketPolicy",
    "s3:PutBucketPolicy": "PutBucketPolicy",
    "s3:DeleteBucketPolicy": "DeleteBucketPolicy",
    "s3:GetBucketCORS": "GetBucketCors",
    "s3:GetObject": "GetObject of a lease, and DeleteObject's If-Match (lock bucket, turns/ only)",
    "s3:PutObject": "PutObject of a lease with If-None-Match or If-Match (lock bucket, turns/ only)",
    "s3:DeleteObject": "DeleteObject of a lease with If-Match (lock bucket, turns/ only)",
    "s3:PutBucketCORS": "PutBucketCors, DeleteBucketCors",
    "secretsmanager:CreateSecret": "CreateSecret",
    "secretsmanager:PutSecretValue": "PutSecretValue",
    "secretsmanager:GetSecretValue": "GetSecretValue",
    "secretsmanager:DescribeSecret": "DescribeSecret",
    "secretsmanager:DeleteSecret": "DeleteSecret",
    "secretsmanager:TagResource": "TagResource, and CreateSecret's Tags",
    "secretsmanager:RestoreSecret": "RestoreSecret",
}


def check_only_actions_the_code_uses(template):
    """Every action the execution role allows is one the code calls (no patterns), and every
    action the code calls is allowed somewhere."""
    used = {action.lower(): action for action in CODE_ACTIONS}
    problems, granted = [], set()
    for where, document in execution_role_documents(template):
        for statement in statements(document):
            if statement.get("Effect") != "Allow":
                continue
            for action in as_list(statement.get("Action")) + as_list(statement.get("NotAction")):
                if not isinstance(action, str) or "*" in action or "?" in action:
                    problems.append(f"{where} {label(statement)}: {action} is a pattern, not an action the code calls")
                elif action.lower() not in used:
                    problems.append(f"{where} {label(statement)}: {action} is a permission the code never uses")
                else:
                    granted.add(action.lower())
    problems += [
        f"no Allow grants {action}, which the code needs for {CODE_ACTIONS[action]}"
        for lowered, action in used.items()
        if lowered not in granted
    ]
    return problems


SECRET_OWNED_ACTIONS = (
    "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret", "secretsmanager:TagResource",
)
# Allowed on a secret being created (no tags yet) when the request carries our owner tag.
SECRET_CREATE_ACTIONS = ("secretsmanager:CreateSecret", "secretsmanager:TagResource")


def requires_tag(statement, key):
    """Whether the statement's conditions demand the tag key be present (not ...IfExists)."""
    for operator, keys in (statement.get("Condition") or {}).items():
        op = operator.lower()
        for name, value in keys.items():
            if name.lower() != key.lower():
                continue
            if op == "null" and str(as_list(value)[0]).lower() == "false":
                return True
            if op in ("stringlike", "stringequals") and as_list(value):
                return True
    return False


def check_secret_writes_need_owner_tag(template):
    """Secrets Manager reads and writes of a secret need our owner tag on it; creating one
    needs the owner tag in the request; all under secret:vendor-access/* of this region."""
    problems = []
    resource_owner = f"aws:ResourceTag/{OWNER}"
    request_owner = f"aws:RequestTag/{OWNER}"
    for where, document in execution_role_documents(template):
        for statement in statements(document):
            if statement.get("Effect") != "Allow":
                continue
            actions = as_list(statement.get("Action"))
            owned = sorted(a for a in SECRET_OWNED_ACTIONS if any(matches_action(p, a) for p in actions))
            creating = sorted(a for a in SECRET_CREATE_ACTIONS if any(matches_action(p, a) for p in actions))
            if not owned and not creating:
                continue
            create_statement = creating and all(
                any(matches_action(p, a) for a in SECRET_CREATE_ACTIONS) for p in actions
            )
            if "secretsmanager:CreateSecret" in creating and not requires_tag(statement, request_owner):
                problems.append(f"{where} {label(statement)}: CreateSecret without the owner tag in the request")
            if owned and not requires_tag(statement, resource_owner) and not (
                create_statement and requires_tag(statement, request_owner)
            ):
                problems.append(f"{where} {label(statement)}: {owned} without the owner-tag condition")
            for resource in as_list(statement.get("Resource")):
                text = arn_text(resource) or ""
                if not text.endswith(":secret:vendor-access/*") or ":secretsmanager:${AWS::Region}:" not in text:
                    problems.append(
                        f"{where} {label(statement)}: on {json.dumps(resource)}, not this region's secret:vendor-access/*"
                    )
    return problems


def owner_tag_scenarios(partition="aws"):
    """(what, action, resource, context, expected decision) for tagging our entities."""
    role = f"arn:{partition}:iam::{ACCOUNT}:role/vendor-access/lightly-input"
    user = f"arn:{partition}:iam::{ACCOUNT}:user/vendor-access/lightly"
    secret = f"arn:{partition}:secretsmanager:{REGION}:{ACCOUNT}:secret:vendor-access/lightly-AbCdEf"
    create = {  # CreateRole/CreateUser/CreateSecret with our tags: the entity has none yet
        "iam:PermissionsBoundary": "<PermissionsBoundaryPolicy>",
        "aws:TagKeys": [OWNER, "team"],
        f"aws:RequestTag/{OWNER}": OWNER_VALUE,
        "aws:RequestTag/team": "ml",
    }
    ours = {f"aws:ResourceTag/{OWNER}": OWNER_VALUE}
    stack_tag = {"aws:TagKeys": ["team"], "aws:RequestTag/team": "data"}
    rewrite = {"aws:TagKeys": ["Vendor-Access:Owner"], "aws:RequestTag/Vendor-Access:Owner": "x/y"}
    return [
        ("CreateRole with our boundary and tags", "iam:CreateRole", role, create, "Allow"),
        ("the iam:TagRole check inside CreateRole-with-Tags", "iam:TagRole", role, create, "Allow"),
        ("CreateUser with our boundary and tags", "iam:CreateUser", user, create, "Allow"),
        ("the iam:TagUser check inside CreateUser-with-Tags", "iam:TagUser", user, create, "Allow"),
        ("a stack-tag change on a role of ours", "iam:TagRole", role, {**stack_tag, **ours}, "Allow"),
        ("a stack-tag removal from a user of ours", "iam:UntagUser", user, {"aws:TagKeys": ["team"], **ours}, "Allow"),
        ("rewriting the owner tag of a role of ours, other case", "iam:TagRole", role, {**rewrite, **ours}, "Deny"),
        ("rewriting the owner tag of a user of ours", "iam:TagUser", user,
         {"aws:TagKeys": [OWNER], f"aws:RequestTag/{OWNER}": "x/y", **ours}, "Deny"),
        ("removing the owner tag from a role of ours", "iam:UntagRole", role, {"aws:TagKeys": [OWNER], **ours}, "Deny"),
        ("removing the owner tag from a user of ours, other case", "iam:UntagUser", user,
         {"aws:TagKeys": ["VENDOR-ACCESS:OWNER"], **ours}, "Deny"),
        ("tagging a role that is not ours", "iam:TagRole", role, stack_tag, "NotAllowed"),
        ("untagging a user that is not ours", "iam:UntagUser", user, {"aws:TagKeys": ["team"]}, "NotAllowed"),
        ("CreateSecret with our owner tag", "secretsmanager:CreateSecret", secret, create, "Allow"),
        ("the TagResource check inside CreateSecret-with-Tags", "secretsmanager:TagResource", secret, create, "Allow"),
        ("CreateSecret without our owner tag", "secretsmanager:CreateSecret", secret, stack_tag, "NotAllowed"),
        ("writing a secret of ours", "secretsmanager:PutSecretValue", secret, ours, "Allow"),
        ("reading a secret of ours", "secretsmanager:GetSecretValue", secret, ours, "Allow"),
        ("writing a secret that is not ours", "secretsmanager:PutSecretValue", secret, {}, "NotAllowed"),
        ("reading a secret that is not ours", "secretsmanager:GetSecretValue", secret, {}, "NotAllowed"),
        ("deleting a secret that is not ours", "secretsmanager:DeleteSecret", secret, {}, "NotAllowed"),
        ("restoring a secret that is not ours", "secretsmanager:RestoreSecret", secret, {}, "NotAllowed"),
        ("tagging a secret that is not ours", "secretsmanager:TagResource", secret, stack_tag, "NotAllowed"),
        ("rewriting the owner tag of a secret of ours", "secretsmanager:TagResource", secret,
         {"aws:TagKeys": [OWNER], f"aws:RequestTag/{OWNER}": "x/y", **ours}, "Deny"),
        ("reading any vendor-access secret's metadata", "secretsmanager:DescribeSecret", secret, {}, "Allow"),
    ]


def check_owner_tag_kept(template):
    """What IAM decides for our owner tag: a new role, user or secret gets it (Create with
    Tags works, including its implicit Tag* check on an entity without tags); an entity that
    has it cannot have it overwritten (in any case) or removed; an entity without it cannot
    be tagged, and a secret without it cannot be read or written."""
    deployment = DeployedTemplate(template, {"AllowedBuckets": ["b"]})
    try:
        execution = deployment.execution_statements()
    except Unresolvable as e:
        return [f"the execution role does not resolve: {e}"]
    problems = []
    for what, action, resource, context, expected in owner_tag_scenarios():
        try:
            decision = decide(execution, action, resource, context)
        except UnsupportedCondition as e:
            return [f"the simulator does not know {e}: extend it before relying on it"]
        if decision != expected:
            problems.append(f"{what} ({action}): {decision}, expected {expected}")
    return problems


def grant_scenarios(partition="aws"):
    """(what, resource, context, expected) for kms:CreateGrant."""
    key = f"arn:{partition}:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    role = f"arn:{partition}:iam::{ACCOUNT}:role/vendor-access/lightly-input"
    user = f"arn:{partition}:iam::{ACCOUNT}:user/vendor-access/lightly"
    data = ["Decrypt", "GenerateDataKey"]
    return [
        ("a Decrypt+GenerateDataKey grant to a role of ours", key,
         {"kms:GrantOperations": data, "kms:GranteePrincipal": role}, "Allow"),
        ("a Decrypt grant to a user of ours", key, {"kms:GrantOperations": ["Decrypt"], "kms:GranteePrincipal": user}, "Allow"),
        ("a grant with Encrypt", key, {"kms:GrantOperations": ["Decrypt", "Encrypt"], "kms:GranteePrincipal": role}, "NotAllowed"),
        ("a grant with ReEncryptFrom", key, {"kms:GrantOperations": ["ReEncryptFrom"], "kms:GranteePrincipal": role}, "NotAllowed"),
        ("a grant with CreateGrant", key, {"kms:GrantOperations": ["CreateGrant"], "kms:GranteePrincipal": role}, "NotAllowed"),
        ("a grant with no operations named", key, {"kms:GranteePrincipal": role}, "NotAllowed"),
        ("a grant to another account's root", key,
         {"kms:GrantOperations": data, "kms:GranteePrincipal": f"arn:{partition}:iam::{OTHER_ACCOUNT}:root"}, "NotAllowed"),
        ("a grant to role/admin", key,
         {"kms:GrantOperations": data, "kms:GranteePrincipal": f"arn:{partition}:iam::{ACCOUNT}:role/admin"}, "NotAllowed"),
        ("a grant on a key of another account", key.replace(ACCOUNT, OTHER_ACCOUNT),
         {"kms:GrantOperations": data, "kms:GranteePrincipal": role}, "NotAllowed"),
        ("a data grant to W&B's integration role (its guide)", key,
         {"kms:GrantOperations": data, "kms:GranteePrincipal": "arn:aws:iam::725579432336:role/WandbIntegration"},
         "Allow"),
        ("a grant with Encrypt to W&B's role", key,
         {"kms:GrantOperations": ["Decrypt", "Encrypt"], "kms:GranteePrincipal": "arn:aws:iam::725579432336:role/WandbIntegration"},
         "NotAllowed"),
        ("a data grant to another role of W&B's account", key,
         {"kms:GrantOperations": data, "kms:GranteePrincipal": "arn:aws:iam::725579432336:role/Other"}, "NotAllowed"),
    ]


def check_grants_only_for_s3_data_to_our_principals(template):
    """kms:CreateGrant only for Decrypt/GenerateDataKey, only to roles/users under
    /vendor-access/ of this account, only on this account's keys."""
    try:
        execution = DeployedTemplate(template, {"AllowedBuckets": ["b"]}).execution_statements()
    except Unresolvable as e:
        return [f"the execution role does not resolve: {e}"]
    problems = []
    for what, resource, context, expected in grant_scenarios():
        try:
            decision = decide(execution, "kms:CreateGrant", resource, context)
        except UnsupportedCondition as e:
            return [f"the simulator does not know {e}: extend it before relying on it"]
        if decision != expected:
            problems.append(f"{what}: {decision}, expected {expected}")
    return problems


def check_kms_keys_of_this_region(template):
    """Every KMS Allow, of the boundary and of the execution role, names keys of the
    deployment's region only: the function's KMS client reaches no other, and S3 (the
    boundary's kms:ViaService) uses only keys of the bucket's region."""
    problems = []
    for region in (REGION, "us-east-1"):
        deployment = DeployedTemplate(template, {"AllowedBuckets": ["b"]}, region=region)
        try:
            found = [("boundary", s) for s in deployment.boundary_statements()]
            found += [("execution role", s) for s in deployment.execution_statements()]
        except Unresolvable as e:
            return [f"the policies do not resolve: {e}"]
        for where, statement in found:
            kms = [a for a in as_list(statement.get("Action")) if service_may_match(a, "kms")]
            if statement.get("Effect") != "Allow" or not kms:
                continue
            for resource in as_list(statement.get("Resource")):
                if not (isinstance(resource, str) and resource.startswith(f"arn:aws:kms:{region}:")):
                    problems.append(f"{where} {label(statement)}: {kms} on {resource}, not a key of {region}")
    return list(dict.fromkeys(problems))


# Settings only a local stand-in of AWS may use: with them the function would answer
# unconfirmed requests, create roles without a boundary, or answer http ResponseURLs.
LOCAL_ONLY_SETTINGS = (
    "VENDOR_ACCESS_LOCAL_STANDIN",
    "VENDOR_ACCESS_ALLOW_NO_BOUNDARY",
    "VENDOR_ACCESS_ALLOW_HTTP_RESPONSE_URL",
    "AWS_ENDPOINT_URL",
)


def check_no_local_only_settings(template):
    """The deployed function never gets a setting meant for a local stand-in of AWS, so
    every request is confirmed with CloudFormation and every role gets the boundary."""
    _, function = the_function(template)
    variables = function.get("Properties", {}).get("Environment", {}).get("Variables", {})
    globals_ = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return [
        f"the function is given {name}, a setting for local stand-ins of AWS only"
        for name in LOCAL_ONLY_SETTINGS
        if name in variables or name in globals_
    ]


CHECKS = (
    check_no_local_only_settings,
    check_iam_rights_fenced_to_path,
    check_creation_requires_boundary,
    check_changes_require_owner_tag,
    check_no_service_wildcards,
    check_boundary_allows_only_s3_and_kms,
    check_concurrency_needs_the_lock_bucket,
    check_lock_bucket_fenced,
    check_service_token_exported,
    check_guardrail_parameters,
    check_guardrails_reach_the_function,
    check_boundary_s3_follows_allowed_buckets,
    check_boundary_allows_exactly_what_the_function_writes,
    check_boundary_kms_only_through_s3,
    check_bucket_documents_only_on_allowed_buckets,
    check_stack_requests_confirmed,
    check_only_actions_the_code_uses,
    check_secret_writes_need_owner_tag,
    check_owner_tag_kept,
    check_grants_only_for_s3_data_to_our_principals,
    check_kms_keys_of_this_region,
)


# ---- tests ----


class TemplateFixture(unittest.TestCase):
    template = None

    @classmethod
    def setUpClass(cls):
        cls.template = load(TEMPLATE)

    def copy(self):
        return copy.deepcopy(self.template)

    def execution_policy(self, template):
        role = template["Resources"][execution_role_id(template)]
        return role["Properties"]["Policies"][0]["PolicyDocument"]

    def statement(self, template, sid):
        for statement in statements(self.execution_policy(template)):
            if statement.get("Sid") == sid:
                return statement
        self.fail(f"template.yaml has no execution-role statement {sid}")

    def boundary_document(self, template):
        return template["Resources"][boundary_policy_id(template)]["Properties"]["PolicyDocument"]

    def assertReports(self, check, template, *fragments):
        problems = check(template)
        self.assertTrue(problems, f"{check.__name__} found nothing")
        for fragment in fragments:
            self.assertTrue(
                any(fragment in problem for problem in problems),
                f"{check.__name__} did not mention {fragment!r}: {problems}",
            )


class TemplateIsFenced(TemplateFixture):
    """template.yaml as committed passes every check."""

    def test_every_check_passes(self):
        for check in CHECKS:
            with self.subTest(check=check.__name__):
                self.assertEqual(check(self.template), [])

    def test_the_checks_see_the_statements_they_guard(self):
        # Guards against a check passing because it found nothing to look at.
        documents = execution_role_documents(self.template)
        self.assertTrue(documents)
        iam_statements = [
            s for _, d in documents for s in statements(d)
            if any(service_may_match(a, "iam") for a in as_list(s.get("Action")))
        ]
        self.assertGreaterEqual(len(iam_statements), 4)
        guarded = {
            a for s in iam_statements for a in as_list(s.get("Action")) if a in BOUNDARY_GUARDED_ACTIONS
        }
        # Put*PermissionsBoundary stay guarded should they come back; CreateRole/CreateUser
        # set the boundary without them.
        self.assertEqual(
            guarded, {"iam:CreateRole", "iam:CreateUser", "iam:PutRolePolicy", "iam:PutUserPolicy"}
        )
        self.assertEqual(boundary_policy_id(self.template), "PermissionsBoundaryPolicy")

    def test_the_guardrail_checks_see_what_they_guard(self):
        deployment = DeployedTemplate(self.template, {"AllowedBuckets": ["datalake-*"]})
        boundary = deployment.boundary_statements()
        self.assertEqual(
            {r for s in boundary for r in as_list(s["Resource"]) if ":s3:::" in r},
            {"arn:aws:s3:::datalake-*", "arn:aws:s3:::datalake-*/*"},
        )
        scenarios = owner_tag_scenarios()
        self.assertEqual({expected for *_, expected in scenarios}, {"Allow", "Deny", "NotAllowed"})
        self.assertGreaterEqual(len(scenarios), 20)

    def test_allowed_buckets_has_no_value_unless_the_deployer_gives_one(self):
        with self.assertRaises(Unresolvable):
            DeployedTemplate(self.template).boundary_statements()


class IamPathFence(TemplateFixture):
    def test_a_role_statement_widened_to_every_role(self):
        t = self.copy()
        self.statement(t, "ReadVendorAccessRoles")["Resource"] = {
            "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"
        }
        self.assertReports(check_iam_rights_fenced_to_path, t, "ReadVendorAccessRoles", "role/*")

    def test_an_iam_action_on_every_resource(self):
        t = self.copy()
        self.statement(t, "ReadVendorAccessUsers")["Resource"] = [
            self.statement(t, "ReadVendorAccessUsers")["Resource"],
            "*",
        ]
        self.assertReports(check_iam_rights_fenced_to_path, t, "ReadVendorAccessUsers", '"*"')

    def test_an_iam_action_slipped_into_an_s3_statement(self):
        t = self.copy()
        self.statement(t, "MergeBucketPolicyAndCors")["Action"].append("iam:PassRole")
        self.assertReports(check_iam_rights_fenced_to_path, t, "MergeBucketPolicyAndCors", "iam:PassRole")

    def test_another_account(self):
        t = self.copy()
        self.statement(t, "ReadVendorAccessRoles")["Resource"] = (
            "arn:aws:iam::*:role/vendor-access/*"
        )
        self.assertReports(check_iam_rights_fenced_to_path, t, "ReadVendorAccessRoles")

    def test_an_allow_with_not_resource(self):
        t = self.copy()
        statement = self.statement(t, "ReadVendorAccessRoles")
        statement["NotResource"] = statement.pop("Resource")
        self.assertReports(check_iam_rights_fenced_to_path, t, "NotAction/NotResource")

    def test_a_separate_policy_attached_to_the_role(self):
        t = self.copy()
        t["Resources"]["ExtraPolicy"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "extra",
                "Roles": [{"Ref": execution_role_id(t)}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "iam:DeleteRole", "Resource": "*"}],
                },
            },
        }
        self.assertReports(check_iam_rights_fenced_to_path, t, "ExtraPolicy", "iam:DeleteRole")

    def test_a_managed_policy_on_the_role(self):
        t = self.copy()
        t["Resources"][execution_role_id(t)]["Properties"]["ManagedPolicyArns"] = [
            "arn:aws:iam::aws:policy/IAMFullAccess"
        ]
        self.assertReports(check_iam_rights_fenced_to_path, t, "IAMFullAccess")

    def test_the_execution_role_moved_inside_the_path(self):
        t = self.copy()
        t["Resources"][execution_role_id(t)]["Properties"]["Path"] = "/vendor-access/"
        self.assertReports(check_iam_rights_fenced_to_path, t, "manage its own role")

    def test_deny_statements_may_name_every_resource(self):
        # DenyBoundaryRemoval is on "*" and is fine: a Deny only takes away.
        self.assertEqual(self.statement(self.template, "DenyBoundaryRemoval")["Resource"], "*")
        self.assertEqual(check_iam_rights_fenced_to_path(self.template), [])


class BoundaryCondition(TemplateFixture):
    def test_role_creation_without_the_condition(self):
        t = self.copy()
        del self.statement(t, "CreateVendorAccessRolesOnlyWithBoundary")["Condition"]
        self.assertReports(
            check_creation_requires_boundary, t,
            "CreateVendorAccessRolesOnlyWithBoundary", "iam:CreateRole", "iam:PutRolePolicy",
        )

    def test_user_creation_without_the_condition(self):
        t = self.copy()
        del self.statement(t, "CreateVendorAccessUsersOnlyWithBoundary")["Condition"]
        self.assertReports(
            check_creation_requires_boundary, t,
            "CreateVendorAccessUsersOnlyWithBoundary", "iam:CreateUser", "iam:PutUserPolicy",
        )

    def test_a_guarded_action_moved_to_an_unconditioned_statement(self):
        t = self.copy()
        self.statement(t, "ReadVendorAccessUsers")["Action"].append("iam:PutUserPolicy")
        self.assertReports(check_creation_requires_boundary, t, "ReadVendorAccessUsers", "iam:PutUserPolicy")

    def test_a_wildcard_covering_a_guarded_action(self):
        t = self.copy()
        self.statement(t, "ReadVendorAccessRoles")["Action"].append("iam:Create*")
        self.assertReports(check_creation_requires_boundary, t, "ReadVendorAccessRoles", "iam:CreateRole", "iam:CreateUser")

    def test_if_exists_lets_a_request_without_a_boundary_through(self):
        t = self.copy()
        statement = self.statement(t, "CreateVendorAccessRolesOnlyWithBoundary")
        statement["Condition"] = {"StringEqualsIfExists": statement["Condition"]["StringEquals"]}
        self.assertReports(check_creation_requires_boundary, t, "CreateVendorAccessRolesOnlyWithBoundary")

    def test_the_condition_naming_another_policy(self):
        t = self.copy()
        self.statement(t, "CreateVendorAccessUsersOnlyWithBoundary")["Condition"]["StringEquals"][
            "iam:PermissionsBoundary"
        ] = "arn:aws:iam::aws:policy/AdministratorAccess"
        self.assertReports(check_creation_requires_boundary, t, "CreateVendorAccessUsersOnlyWithBoundary")

    def test_the_condition_allowing_a_second_policy(self):
        t = self.copy()
        condition = self.statement(t, "CreateVendorAccessRolesOnlyWithBoundary")["Condition"]["StringEquals"]
        condition["iam:PermissionsBoundary"] = [
            condition["iam:PermissionsBoundary"],
            "arn:aws:iam::aws:policy/AdministratorAccess",
        ]
        self.assertReports(check_creation_requires_boundary, t, "CreateVendorAccessRolesOnlyWithBoundary")

    def test_the_function_not_told_the_boundary(self):
        t = self.copy()
        _, function = the_function(t)
        del function["Properties"]["Environment"]["Variables"][BOUNDARY_ENV]
        self.assertReports(check_creation_requires_boundary, t, BOUNDARY_ENV)


class OwnerTagCondition(TemplateFixture):
    def test_role_changes_without_the_owner_tag(self):
        t = self.copy()
        del self.statement(t, "ChangeOnlyOwnedVendorAccessRoles")["Condition"]
        self.assertReports(
            check_changes_require_owner_tag, t, "ChangeOnlyOwnedVendorAccessRoles", "iam:DeleteRole"
        )

    def test_a_key_created_through_an_unconditioned_statement(self):
        t = self.copy()
        self.statement(t, "ReadVendorAccessUsers")["Action"].append("iam:CreateAccessKey")
        self.assertReports(
            check_changes_require_owner_tag, t, "ReadVendorAccessUsers", "iam:CreateAccessKey"
        )


class ServiceWildcards(TemplateFixture):
    def test_each_whole_service_wildcard(self):
        for action in ("*", "iam:*", "s3:*", "kms:*"):
            with self.subTest(action=action):
                t = self.copy()
                self.statement(t, "InspectKeysAndRemoveGrants")["Action"].append(action)
                self.assertReports(check_no_service_wildcards, t, "InspectKeysAndRemoveGrants", action)

    def test_a_wildcard_in_the_boundary(self):
        t = self.copy()
        statements(self.boundary_document(t))[1]["Action"] = "s3:*"
        self.assertReports(check_no_service_wildcards, t, "PermissionsBoundaryPolicy", "s3:*")

    def test_a_wildcard_as_a_lone_string_action(self):
        t = self.copy()
        self.statement(t, "ConfirmRequestsWithCloudFormation")["Action"] = "kms:*"
        self.assertReports(check_no_service_wildcards, t, "ConfirmRequestsWithCloudFormation", "kms:*")


class BoundaryContents(TemplateFixture):
    def test_an_iam_action_in_the_boundary(self):
        t = self.copy()
        statements(self.boundary_document(t))[0]["Action"].append("iam:PassRole")
        self.assertReports(check_boundary_allows_only_s3_and_kms, t, "iam:PassRole")

    def test_a_pattern_matching_iam_in_the_boundary(self):
        t = self.copy()
        statements(self.boundary_document(t))[0]["Action"].append("i*:Get*")
        self.assertReports(check_boundary_allows_only_s3_and_kms, t, "i*:Get*")

    def test_another_service_in_the_boundary(self):
        t = self.copy()
        statements(self.boundary_document(t))[0]["Action"].append("sts:AssumeRole")
        self.assertReports(check_boundary_allows_only_s3_and_kms, t, "sts:AssumeRole")

    def test_not_action_in_the_boundary(self):
        t = self.copy()
        statement = statements(self.boundary_document(t))[0]
        statement["NotAction"] = statement.pop("Action")
        self.assertReports(check_boundary_allows_only_s3_and_kms, t, "NotAction")


class Deployment(TemplateFixture):
    def test_the_checks_see_the_lock_bucket(self):
        self.assertEqual(lock_bucket_id(self.template), "LockBucket")
        _, function = the_function(self.template)
        self.assertEqual(str(function["Properties"]["ReservedConcurrentExecutions"]), "20")
        self.assertEqual(self.statement(self.template, "TakeTurnsInLockBucket")["Resource"],
                         {"Fn::Sub": "${LockBucket.Arn}/turns/*"})

    def without_lock_bucket(self, t):
        _, function = the_function(t)
        del function["Properties"]["Environment"]["Variables"][LOCK_BUCKET_ENV]
        return function

    def test_concurrency_without_the_lock_bucket(self):
        t = self.copy()
        self.without_lock_bucket(t)
        self.assertReports(check_concurrency_needs_the_lock_bucket, t, "is 20 without a lock bucket")

    def test_one_at_a_time_needs_no_lock_bucket(self):
        # An older deployment: no lock bucket, one invocation at a time.
        t = self.copy()
        function = self.without_lock_bucket(t)
        function["Properties"]["ReservedConcurrentExecutions"] = 1
        self.assertEqual(check_concurrency_needs_the_lock_bucket(t), [])
        self.assertEqual(check_lock_bucket_fenced(t), [])

    def test_the_lock_bucket_named_by_a_literal(self):
        t = self.copy()
        _, function = the_function(t)
        function["Properties"]["Environment"]["Variables"][LOCK_BUCKET_ENV] = "some-bucket"
        self.assertReports(check_concurrency_needs_the_lock_bucket, t, "without a lock bucket")

    def test_concurrency_above_the_bound(self):
        t = self.copy()
        _, function = the_function(t)
        function["Properties"]["ReservedConcurrentExecutions"] = MAX_CONCURRENCY + 1
        self.assertReports(check_concurrency_needs_the_lock_bucket, t, f"is {MAX_CONCURRENCY + 1}, not from 1")

    def test_no_reserved_concurrency(self):
        t = self.copy()
        _, function = the_function(t)
        del function["Properties"]["ReservedConcurrentExecutions"]
        self.assertReports(check_concurrency_needs_the_lock_bucket, t, "is None, not a number")

    def test_the_lease_statement_widened_to_the_whole_lock_bucket(self):
        t = self.copy()
        self.statement(t, "TakeTurnsInLockBucket")["Resource"] = {"Fn::Sub": "${LockBucket.Arn}/*"}
        self.assertReports(check_lock_bucket_fenced, t, "not only <LockBucket.Arn>/turns/*")
        # ... and is then an object right outside the allowed buckets.
        self.assertReports(check_bucket_documents_only_on_allowed_buckets, t, "not an allowed bucket")

    def test_the_lease_statement_on_an_allowed_bucket(self):
        t = self.copy()
        self.statement(t, "TakeTurnsInLockBucket")["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:s3:::b/turns/*"}
        self.assertReports(check_lock_bucket_fenced, t, "turns cannot be taken")
        self.assertReports(check_bucket_documents_only_on_allowed_buckets, t, "arn:aws:s3:::b/turns/*")

    def test_the_lease_statement_without_the_account(self):
        t = self.copy()
        del self.statement(t, "TakeTurnsInLockBucket")["Condition"]
        self.assertReports(check_lock_bucket_fenced, t, "lacks StringEquals aws:ResourceAccount")

    def test_the_lock_bucket_open_to_plain_http(self):
        t = self.copy()
        del t["Resources"]["LockBucketPolicy"]
        self.assertReports(check_lock_bucket_fenced, t, "denies requests without TLS")

    def test_the_lock_bucket_unencrypted_public_and_never_cleared(self):
        t = self.copy()
        properties = t["Resources"]["LockBucket"]["Properties"]
        del properties["BucketEncryption"]
        properties["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False
        del properties["LifecycleConfiguration"]
        self.assertReports(
            check_lock_bucket_fenced, t, "no default encryption", "BlockPublicPolicy is not true",
            "expires stale leases",
        )

    def test_service_token_not_exported(self):
        t = self.copy()
        del t["Outputs"]["ServiceToken"]["Export"]
        self.assertReports(check_service_token_exported, t, "not exported")

    def test_service_token_exported_under_another_name(self):
        t = self.copy()
        t["Outputs"]["ServiceToken"]["Export"]["Name"] = "vendor-access-token"
        self.assertReports(check_service_token_exported, t, "not exported")

    def test_service_token_missing(self):
        t = self.copy()
        del t["Outputs"]["ServiceToken"]
        self.assertReports(check_service_token_exported, t, "no ServiceToken output")

    def test_service_token_not_the_function(self):
        t = self.copy()
        t["Outputs"]["ServiceToken"]["Value"] = {"Fn::GetAtt": ["VendorAccessFunctionRole", "Arn"]}
        self.assertReports(check_service_token_exported, t, "not VendorAccessFunction's ARN")


class RootRoleException(TemplateFixture):
    def scale_resources(self, template):
        found = []
        for _, document in execution_role_documents(template):
            for statement in statements(document):
                for resource in as_list(statement.get("Resource")):
                    if is_allowed_root_role(template, resource):
                        found.append((statement, resource))
        return found

    def test_the_exception_is_behind_its_parameter(self):
        self.assertTrue(self.scale_resources(self.template))

    def test_the_exception_made_unconditional(self):
        t = self.copy()
        statement, resource = self.scale_resources(t)[0]
        statement["Resource"] = [r if r is not resource else resource["Fn::If"][1] for r in as_list(statement["Resource"])]
        self.assertReports(check_iam_rights_fenced_to_path, t, "ScaleAI-Integration")

    def test_the_exception_widened_to_every_root_role(self):
        t = self.copy()
        _, resource = self.scale_resources(t)[0]
        resource["Fn::If"][1] = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}
        self.assertReports(check_iam_rights_fenced_to_path, t, "role/*")

    def test_the_condition_no_longer_bound_to_the_parameter(self):
        t = self.copy()
        t["Conditions"][ROOT_ROLE_CONDITION] = {"Fn::Equals": ["a", "a"]}
        self.assertReports(check_iam_rights_fenced_to_path, t, "ScaleAI-Integration")


class LocalOnlySettings(TemplateFixture):
    def test_each_local_only_setting_is_refused(self):
        for name in LOCAL_ONLY_SETTINGS:
            with self.subTest(name=name):
                t = self.copy()
                the_function(t)[1]["Properties"]["Environment"]["Variables"][name] = "true"
                self.assertReports(check_no_local_only_settings, t, name)


class GuardrailParameters(TemplateFixture):
    def test_allowed_buckets_given_a_silent_default(self):
        for default in ("*", ""):
            with self.subTest(default=default):
                t = self.copy()
                t["Parameters"]["AllowedBuckets"]["Default"] = default
                self.assertReports(check_guardrail_parameters, t, "AllowedBuckets has a Default")

    def test_a_guardrail_parameter_missing(self):
        for name in GUARDRAIL_PARAMETERS:
            with self.subTest(name=name):
                t = self.copy()
                del t["Parameters"][name]
                self.assertReports(check_guardrail_parameters, t, f"no parameter {name}")

    def test_a_guardrail_as_a_single_string(self):
        t = self.copy()
        t["Parameters"]["AllowedTrustedPrincipals"]["Type"] = "String"
        self.assertReports(check_guardrail_parameters, t, "AllowedTrustedPrincipals is a String")

    def test_trusted_principals_allowed_by_default(self):
        t = self.copy()
        t["Parameters"]["AllowedTrustedPrincipals"]["Default"] = "*"
        self.assertReports(check_guardrail_parameters, t, "AllowedTrustedPrincipals defaults to '*'")

    def test_a_guardrail_outside_its_parameter_group(self):
        t = self.copy()
        for group in t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]:
            if group["Label"]["default"] == GUARDRAIL_GROUP:
                group["Parameters"].remove("AllowedKmsKeyArns")
        self.assertReports(check_guardrail_parameters, t, "AllowedKmsKeyArns is not in the Guardrails")

    def environment(self, template):
        return the_function(template)[1]["Properties"]["Environment"]["Variables"]

    def test_a_guardrail_not_passed_to_the_function(self):
        for name, (variable, _) in GUARDRAIL_PARAMETERS.items():
            with self.subTest(variable=variable):
                t = self.copy()
                del self.environment(t)[variable]
                self.assertReports(check_guardrails_reach_the_function, t, f"no {variable} (from {name})")

    def test_a_guardrail_passed_under_another_parameter(self):
        t = self.copy()
        self.environment(t)["VENDOR_ACCESS_ALLOWED_VENDORS"] = {"Fn::Join": [",", {"Ref": "AllowedBuckets"}]}
        self.assertReports(check_guardrails_reach_the_function, t, "VENDOR_ACCESS_ALLOWED_VENDORS is")

    def test_a_guardrail_passed_with_the_wrong_separator(self):
        t = self.copy()
        self.environment(t)["VENDOR_ACCESS_ALLOWED_BUCKETS"] = {"Fn::Join": [" ", {"Ref": "AllowedBuckets"}]}
        self.assertReports(check_guardrails_reach_the_function, t, "'datalake-* ml-results'")

    def test_a_guardrail_hard_coded(self):
        t = self.copy()
        self.environment(t)["VENDOR_ACCESS_ALLOWED_TRUSTED_PRINCIPALS"] = ""
        self.assertReports(check_guardrails_reach_the_function, t, "VENDOR_ACCESS_ALLOWED_TRUSTED_PRINCIPALS")


class BoundaryFollowsTheGuardrails(TemplateFixture):
    def boundary_statement(self, template, sid):
        for statement in statements(self.boundary_document(template)):
            if statement.get("Sid") == sid:
                return statement
        self.fail(f"the boundary has no statement {sid}")

    def test_the_old_boundary_on_every_bucket(self):
        t = self.copy()
        self.boundary_statement(t, "S3BucketListing")["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}
        self.boundary_statement(t, "S3ObjectData")["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:s3:::*/*"}
        self.assertReports(
            check_boundary_s3_follows_allowed_buckets, t, "S3BucketListing is on ['arn:aws:s3:::*']",
            "S3ObjectData is on ['arn:aws:s3:::*/*']",
        )

    def test_an_extra_bucket_in_the_boundary(self):
        t = self.copy()
        statement = self.boundary_statement(t, "S3ObjectData")
        statement["Resource"] = with_extra(statement["Resource"], "arn:aws:s3:::payroll-prod/*")
        self.assertReports(check_boundary_s3_follows_allowed_buckets, t, "payroll-prod")

    def test_the_partition_hard_coded_between_names(self):
        # Only the first name carries the partition; the rest would be arn:aws in China.
        t = self.copy()
        self.boundary_statement(t, "S3BucketListing")["Resource"] = {
            "Fn::Split": [",", {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Rest}", {
                "Rest": {"Fn::Join": [",arn:aws:s3:::", {"Ref": "AllowedBuckets"}]}}]}]
        }
        self.assertReports(check_boundary_s3_follows_allowed_buckets, t, "aws-cn", "arn:aws:s3:::ml-results")

    def test_the_objects_of_only_the_first_bucket(self):
        t = self.copy()
        self.boundary_statement(t, "S3ObjectData")["Resource"] = {
            "Fn::Sub": ["arn:${AWS::Partition}:s3:::${First}/*",
                        {"First": {"Fn::Select": [0, {"Ref": "AllowedBuckets"}]}}]
        }
        self.assertReports(check_boundary_s3_follows_allowed_buckets, t, "S3ObjectData is on")

    def test_another_account_reachable_through_a_pattern(self):
        for sid in ("S3BucketListing", "S3ObjectData"):
            with self.subTest(sid=sid):
                t = self.copy()
                del self.boundary_statement(t, sid)["Condition"]
                self.assertReports(check_boundary_s3_follows_allowed_buckets, t, f"{sid} lacks StringEquals aws:ResourceAccount")

    def test_the_resource_account_pinned_to_a_literal(self):
        t = self.copy()
        self.boundary_statement(t, "S3ObjectData")["Condition"]["StringEquals"]["aws:ResourceAccount"] = "111111111111"
        self.assertReports(check_boundary_s3_follows_allowed_buckets, t, "S3ObjectData lacks")

    def test_the_old_wide_actions_back(self):
        t = self.copy()
        self.boundary_statement(t, "S3ObjectData")["Action"] += [
            "s3:GetObjectVersion", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload",
        ]
        self.boundary_statement(t, "KmsDataKeysThroughS3")["Action"] = [
            "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey",
        ]
        self.assertReports(
            check_boundary_allows_exactly_what_the_function_writes, t,
            "s3:GetObjectVersion", "s3:AbortMultipartUpload", "kms:Encrypt", "kms:GenerateDataKey*",
            "kms:ReEncrypt*", "kms:DescribeKey", "does not allow kms:GenerateDataKey",
        )

    def test_an_action_the_function_writes_dropped(self):
        t = self.copy()
        self.boundary_statement(t, "S3BucketListing")["Action"] = ["s3:ListBucket"]
        self.assertReports(check_boundary_allows_exactly_what_the_function_writes, t, "does not allow s3:GetBucketLocation")

    def test_kms_without_via_service(self):
        t = self.copy()
        del self.boundary_statement(t, "KmsDataKeysThroughS3")["Condition"]
        self.assertReports(check_boundary_kms_only_through_s3, t, "KmsDataKeysThroughS3", "kms:ViaService")

    def test_kms_via_another_service(self):
        t = self.copy()
        self.boundary_statement(t, "KmsDataKeysThroughS3")["Condition"]["StringEquals"]["kms:ViaService"] = {
            "Fn::Sub": "ec2.${AWS::Region}.amazonaws.com"
        }
        self.assertReports(check_boundary_kms_only_through_s3, t, "s3.eu-west-1.amazonaws.com")

    def test_kms_via_s3_in_a_fixed_region(self):
        t = self.copy()
        self.boundary_statement(t, "KmsDataKeysThroughS3")["Condition"]["StringEquals"]["kms:ViaService"] = (
            "s3.eu-west-1.amazonaws.com"
        )
        self.assertReports(check_boundary_kms_only_through_s3, t, "s3.us-east-1.amazonaws.com")


class ExecutionRoleFollowsTheGuardrails(TemplateFixture):
    def test_bucket_policies_on_every_bucket(self):
        t = self.copy()
        self.statement(t, "MergeBucketPolicyAndCors")["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}
        self.assertReports(check_bucket_documents_only_on_allowed_buckets, t, "['arn:aws:s3:::*'], not an allowed bucket")

    def test_bucket_documents_in_another_account(self):
        t = self.copy()
        del self.statement(t, "MergeBucketPolicyAndCors")["Condition"]
        self.assertReports(check_bucket_documents_only_on_allowed_buckets, t, "lacks StringEquals aws:ResourceAccount")

    def test_an_s3_right_outside_the_allowed_buckets_statement(self):
        t = self.copy()
        self.statement(t, "ConfirmRequestsWithCloudFormation")["Action"] = [
            "cloudformation:DescribeStackResource", "s3:PutBucketPolicy",
        ]
        self.assertReports(check_bucket_documents_only_on_allowed_buckets, t, "ConfirmRequestsWithCloudFormation")

    def test_objects_reachable_by_the_function(self):
        t = self.copy()
        statement = self.statement(t, "MergeBucketPolicyAndCors")
        statement["Resource"] = with_extra(
            statement["Resource"], {"Fn::Sub": "arn:${AWS::Partition}:s3:::datalake-raw/*"}
        )
        self.assertReports(check_bucket_documents_only_on_allowed_buckets, t, "datalake-raw/*")

    def test_no_confirmation_from_cloudformation(self):
        t = self.copy()
        policy = self.execution_policy(t)
        policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "ConfirmRequestsWithCloudFormation"]
        self.assertReports(check_stack_requests_confirmed, t, "cannot be confirmed")

    def test_stack_descriptions_of_every_account_and_region(self):
        t = self.copy()
        self.statement(t, "ConfirmRequestsWithCloudFormation")["Resource"] = "*"
        self.assertReports(check_stack_requests_confirmed, t, "ConfirmRequestsWithCloudFormation", "['*']")

    def test_stack_descriptions_of_another_region(self):
        t = self.copy()
        self.statement(t, "ConfirmRequestsWithCloudFormation")["Resource"] = {
            "Fn::Sub": "arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/*/*"
        }
        self.assertReports(check_stack_requests_confirmed, t, "cloudformation:*:123456789012")

    def test_each_removed_permission_back(self):
        removed = {
            "ReadVendorAccessRoles": ["iam:ListRoleTags", "iam:ListAttachedRolePolicies"],
            "ReadVendorAccessUsers": ["iam:ListAttachedUserPolicies"],
            "CreateVendorAccessRolesOnlyWithBoundary": ["iam:PutRolePermissionsBoundary"],
            "CreateVendorAccessUsersOnlyWithBoundary": ["iam:PutUserPermissionsBoundary"],
            "MergeBucketPolicyAndCors": ["s3:GetBucketLocation"],
            "InspectKeysAndRemoveGrants": ["kms:ListRetirableGrants"],
        }
        for sid, actions in removed.items():
            for action in actions:
                with self.subTest(action=action):
                    t = self.copy()
                    self.statement(t, sid)["Action"].append(action)
                    self.assertReports(check_only_actions_the_code_uses, t, f"{action} is a permission the code never uses")

    def test_a_pattern_in_the_execution_role(self):
        t = self.copy()
        self.statement(t, "ReadVendorAccessRoles")["Action"].append("iam:List*")
        self.assertReports(check_only_actions_the_code_uses, t, "iam:List* is a pattern")

    def test_a_permission_the_code_needs_missing(self):
        t = self.copy()
        self.statement(t, "InspectKeysAndRemoveGrants")["Action"].remove("kms:RetireGrant")
        self.assertReports(check_only_actions_the_code_uses, t, "no Allow grants kms:RetireGrant")


class GrantsAreLimited(TemplateFixture):
    def grant_statement(self, template):
        return self.statement(template, "CreateDataGrantsForVendorAccessPrincipals")

    def test_the_old_grant_operations_back(self):
        t = self.copy()
        self.grant_statement(t)["Condition"]["ForAllValues:StringEquals"]["kms:GrantOperations"] += [
            "Encrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "DescribeKey",
        ]
        self.assertReports(check_grants_only_for_s3_data_to_our_principals, t, "ReEncryptFrom", "Encrypt")

    def test_grants_without_operations(self):
        t = self.copy()
        del self.grant_statement(t)["Condition"]["Null"]
        self.assertReports(check_grants_only_for_s3_data_to_our_principals, t, "no operations named")

    def test_grants_to_anyone(self):
        t = self.copy()
        del self.grant_statement(t)["Condition"]["StringLike"]
        self.assertReports(
            check_grants_only_for_s3_data_to_our_principals, t, "another account's root", "role/admin",
        )

    def test_keys_of_every_region(self):
        t = self.copy()
        self.grant_statement(t)["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"}
        boundary = {s["Sid"]: s for s in statements(self.boundary_document(t))}
        boundary["KmsDataKeysThroughS3"]["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:kms:*:*:key/*"}
        self.assertReports(
            check_kms_keys_of_this_region, t,
            "boundary KmsDataKeysThroughS3", "CreateDataGrantsForVendorAccessPrincipals", "not a key of eu-west-1",
        )

    def test_grants_on_keys_of_every_account(self):
        t = self.copy()
        self.grant_statement(t)["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:kms:*:*:key/*"}
        self.assertReports(check_grants_only_for_s3_data_to_our_principals, t, "a key of another account")


class SecretsNeedTheOwnerTag(TemplateFixture):
    def test_secret_writes_without_the_owner_tag(self):
        t = self.copy()
        del self.statement(t, "ChangeOnlyOwnedSecrets")["Condition"]
        self.assertReports(check_secret_writes_need_owner_tag, t, "ChangeOnlyOwnedSecrets", "secretsmanager:PutSecretValue")
        self.assertReports(check_owner_tag_kept, t, "writing a secret that is not ours")

    def test_an_if_exists_owner_condition(self):
        t = self.copy()
        statement = self.statement(t, "ChangeOnlyOwnedSecrets")
        statement["Condition"] = {"StringLikeIfExists": statement["Condition"]["StringLike"]}
        self.assertReports(check_secret_writes_need_owner_tag, t, "ChangeOnlyOwnedSecrets")

    def test_secrets_created_without_the_owner_tag(self):
        t = self.copy()
        del self.statement(t, "CreateSecretsOnlyWithOwnerTag")["Condition"]
        self.assertReports(check_secret_writes_need_owner_tag, t, "CreateSecret without the owner tag")
        self.assertReports(check_owner_tag_kept, t, "CreateSecret without our owner tag")

    def test_a_secret_write_slipped_into_the_create_statement(self):
        t = self.copy()
        self.statement(t, "CreateSecretsOnlyWithOwnerTag")["Action"].append("secretsmanager:PutSecretValue")
        self.assertReports(check_secret_writes_need_owner_tag, t, "CreateSecretsOnlyWithOwnerTag")

    def test_secret_reads_without_the_owner_tag(self):
        t = self.copy()
        self.statement(t, "ReadVendorAccessSecretMetadata")["Action"] = [
            "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
        ]
        self.assertReports(check_secret_writes_need_owner_tag, t, "secretsmanager:GetSecretValue")
        self.assertReports(check_owner_tag_kept, t, "reading a secret that is not ours")

    def test_secrets_outside_the_prefix(self):
        t = self.copy()
        self.statement(t, "ChangeOnlyOwnedSecrets")["Resource"] = {
            "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"
        }
        self.assertReports(check_secret_writes_need_owner_tag, t, "not this region's secret:vendor-access/*")


class OwnerTagIsKept(TemplateFixture):
    def without(self, template, sid):
        policy = self.execution_policy(template)
        policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]

    def test_owner_tag_rewrite_allowed(self):
        t = self.copy()
        self.without(t, "DenyOwnerTagRewrite")
        self.assertReports(
            check_owner_tag_kept, t, "rewriting the owner tag of a role of ours", "of a user of ours",
            "of a secret of ours",
        )

    def test_the_rewrite_deny_compared_case_sensitively(self):
        t = self.copy()
        condition = self.statement(t, "DenyOwnerTagRewrite")["Condition"]
        condition["ForAnyValue:StringEquals"] = condition.pop("ForAnyValue:StringEqualsIgnoreCase")
        self.assertReports(check_owner_tag_kept, t, "rewriting the owner tag of a role of ours, other case")

    def test_the_obvious_deny_breaks_create_with_tags(self):
        # Denying the owner key where the entity has no owner tag yet also hits the TagRole
        # check inside CreateRole-with-Tags: every Create would fail.
        t = self.copy()
        self.statement(t, "DenyOwnerTagRewrite")["Condition"]["Null"][f"aws:ResourceTag/{OWNER}"] = "true"
        self.assertReports(
            check_owner_tag_kept, t, "the iam:TagRole check inside CreateRole-with-Tags (iam:TagRole): Deny",
            "inside CreateSecret-with-Tags",
        )

    def test_owner_tag_removal_allowed(self):
        t = self.copy()
        self.without(t, "DenyOwnerTagRemoval")
        self.assertReports(check_owner_tag_kept, t, "removing the owner tag from a role of ours", "from a user of ours")

    def test_create_with_tags_not_allowed_to_tag(self):
        t = self.copy()
        self.without(t, "TagNewVendorAccessEntitiesWithOwner")
        self.assertReports(check_owner_tag_kept, t, "inside CreateRole-with-Tags", "inside CreateUser-with-Tags")

    def test_tagging_any_entity_under_the_path(self):
        t = self.copy()
        del self.statement(t, "TagNewVendorAccessEntitiesWithOwner")["Condition"]
        self.assertReports(check_owner_tag_kept, t, "tagging a role that is not ours")

    def test_untagging_any_entity_under_the_path(self):
        t = self.copy()
        self.statement(t, "ReadVendorAccessUsers")["Action"].append("iam:UntagUser")
        self.assertReports(check_owner_tag_kept, t, "untagging a user that is not ours")
        self.assertReports(check_changes_require_owner_tag, t, "ReadVendorAccessUsers", "iam:UntagUser")

    def test_an_operator_the_simulator_does_not_know(self):
        t = self.copy()
        condition = self.statement(t, "ChangeOnlyOwnedSecrets")["Condition"]
        condition["DateGreaterThan"] = {"aws:CurrentTime": "2020-01-01T00:00:00Z"}
        self.assertReports(check_owner_tag_kept, t, "the simulator does not know DateGreaterThan")


class Simulator(unittest.TestCase):
    """The simulator's reading of IAM's condition semantics, on hand-written statements."""

    def statement(self, condition, effect="Allow"):
        return {"Effect": effect, "Action": "iam:TagRole", "Resource": "arn:aws:iam::1:role/x", "Condition": condition}

    def test_for_any_value_on_a_missing_key_is_false(self):
        s = self.statement({"ForAnyValue:StringEquals": {"aws:TagKeys": "k"}})
        self.assertEqual(decide([s], "iam:TagRole", "arn:aws:iam::1:role/x", {}), "NotAllowed")

    def test_for_all_values_on_a_missing_key_is_true(self):
        s = self.statement({"ForAllValues:StringEquals": {"aws:TagKeys": "k"}})
        self.assertEqual(decide([s], "iam:TagRole", "arn:aws:iam::1:role/x", {}), "Allow")

    def test_null(self):
        s = self.statement({"Null": {"aws:ResourceTag/o": "false"}})
        self.assertEqual(decide([s], "iam:TagRole", "arn:aws:iam::1:role/x", {}), "NotAllowed")
        self.assertEqual(decide([s], "iam:TagRole", "arn:aws:iam::1:role/x", {"aws:ResourceTag/o": "v"}), "Allow")

    def test_an_explicit_deny_wins(self):
        allow = self.statement({})
        deny = self.statement({}, effect="Deny")
        self.assertEqual(decide([allow, deny], "iam:TagRole", "arn:aws:iam::1:role/x"), "Deny")

    def test_actions_ignore_case_resources_do_not(self):
        s = self.statement({})
        self.assertEqual(decide([s], "IAM:tagrole", "arn:aws:iam::1:role/x"), "Allow")
        self.assertEqual(decide([s], "iam:TagRole", "arn:aws:iam::1:role/X"), "NotAllowed")

    def test_the_resolver_refuses_a_computed_join_delimiter(self):
        # CloudFormation does too; a template relying on it would not deploy.
        template = {"Parameters": {}, "Resources": {}}
        with self.assertRaises(Unresolvable):
            DeployedTemplate(template).resolve({"Fn::Join": [{"Fn::Sub": ","}, ["a", "b"]]})


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        TEMPLATE = Path(sys.argv.pop(1)).resolve()
    unittest.main(verbosity=2)
