"""The function's own power, checked in template.yaml.

Whoever can write a stack can drive the function, so template.yaml fences it (SPEC.md,
"Deployment and the function's own power"). These checks read the template the way a
reviewer would and fail the build when the fence is weakened:

- every IAM right of the execution role is scoped to role/vendor-access/* or user/vendor-access/*;
- creating a role or user, and writing its inline policy or boundary, require the
  iam:PermissionsBoundary condition naming the boundary policy the function is given;
- no policy in the template allows a whole service (`iam:*`, `s3:*`, `kms:*`...) or `*`;
- the boundary policy allows only S3 and KMS actions, so never an iam: one;
- the function runs one invocation at a time and exports its ServiceToken.

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
    "iam:DeleteUser", "iam:DeleteUserPolicy", "iam:CreateAccessKey", "iam:DeleteAccessKey",
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


def check_one_invocation_at_a_time(template):
    """ReservedConcurrentExecutions is 1: merges into one bucket's documents never race."""
    logical_id, function = the_function(template)
    reserved = function.get("Properties", {}).get("ReservedConcurrentExecutions")
    if str(reserved) != "1":
        return [f"{logical_id}: ReservedConcurrentExecutions is {reserved}, not 1"]
    return []


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


CHECKS = (
    check_iam_rights_fenced_to_path,
    check_creation_requires_boundary,
    check_changes_require_owner_tag,
    check_no_service_wildcards,
    check_boundary_allows_only_s3_and_kms,
    check_one_invocation_at_a_time,
    check_service_token_exported,
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
        self.assertEqual(guarded, set(BOUNDARY_GUARDED_ACTIONS))
        self.assertEqual(boundary_policy_id(self.template), "PermissionsBoundaryPolicy")


class IamPathFence(TemplateFixture):
    def test_a_role_statement_widened_to_every_role(self):
        t = self.copy()
        self.statement(t, "ReadAndTagVendorAccessRoles")["Resource"] = {
            "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"
        }
        self.assertReports(check_iam_rights_fenced_to_path, t, "ReadAndTagVendorAccessRoles", "role/*")

    def test_an_iam_action_on_every_resource(self):
        t = self.copy()
        self.statement(t, "ReadAndTagVendorAccessUsers")["Resource"] = [
            self.statement(t, "ReadAndTagVendorAccessUsers")["Resource"],
            "*",
        ]
        self.assertReports(check_iam_rights_fenced_to_path, t, "ReadAndTagVendorAccessUsers", '"*"')

    def test_an_iam_action_slipped_into_an_s3_statement(self):
        t = self.copy()
        self.statement(t, "MergeBucketPolicyAndCors")["Action"].append("iam:PassRole")
        self.assertReports(check_iam_rights_fenced_to_path, t, "MergeBucketPolicyAndCors", "iam:PassRole")

    def test_another_account(self):
        t = self.copy()
        self.statement(t, "ReadAndTagVendorAccessRoles")["Resource"] = (
            "arn:aws:iam::*:role/vendor-access/*"
        )
        self.assertReports(check_iam_rights_fenced_to_path, t, "ReadAndTagVendorAccessRoles")

    def test_an_allow_with_not_resource(self):
        t = self.copy()
        statement = self.statement(t, "ReadAndTagVendorAccessRoles")
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
            "CreateVendorAccessUsersOnlyWithBoundary", "iam:CreateUser", "iam:PutUserPermissionsBoundary",
        )

    def test_a_guarded_action_moved_to_an_unconditioned_statement(self):
        t = self.copy()
        self.statement(t, "ReadAndTagVendorAccessUsers")["Action"].append("iam:PutUserPolicy")
        self.assertReports(check_creation_requires_boundary, t, "ReadAndTagVendorAccessUsers", "iam:PutUserPolicy")

    def test_a_wildcard_covering_a_guarded_action(self):
        t = self.copy()
        self.statement(t, "ReadAndTagVendorAccessRoles")["Action"].append("iam:Create*")
        self.assertReports(check_creation_requires_boundary, t, "ReadAndTagVendorAccessRoles", "iam:CreateRole", "iam:CreateUser")

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
        self.statement(t, "ReadAndTagVendorAccessUsers")["Action"].append("iam:CreateAccessKey")
        self.assertReports(
            check_changes_require_owner_tag, t, "ReadAndTagVendorAccessUsers", "iam:CreateAccessKey"
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
        self.statement(t, "ListRetirableGrants")["Action"] = "kms:*"
        self.assertReports(check_no_service_wildcards, t, "ListRetirableGrants", "kms:*")


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
    def test_more_than_one_concurrent_invocation(self):
        t = self.copy()
        _, function = the_function(t)
        function["Properties"]["ReservedConcurrentExecutions"] = 2
        self.assertReports(check_one_invocation_at_a_time, t, "is 2, not 1")

    def test_no_reserved_concurrency(self):
        t = self.copy()
        _, function = the_function(t)
        del function["Properties"]["ReservedConcurrentExecutions"]
        self.assertReports(check_one_invocation_at_a_time, t, "is None, not 1")

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


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        TEMPLATE = Path(sys.argv.pop(1)).resolve()
    unittest.main(verbosity=2)
