"""cfripper filters for vendor-access's templates: each allows one deliberate finding, with its reason.

    cfripper --rules-filters-folder tools/cfripper template.yaml

The execution role must create roles and users and write their policies: that is the
function's job. The filter allows exactly those four actions on exactly that role; any other
dangerous action, or the same actions on another resource, still fails.

The lock bucket holds only lease objects that live seconds (docs/reliability.md): it is not
versioned, and the second filter allows exactly that, on exactly that bucket.
"""

from cfripper.config.filter import Filter
from cfripper.model.enums import RuleMode

FILTERS = [
    Filter(
        reason=(
            "vendor-access's execution role creates vendor roles and users: fenced to the "
            "/vendor-access/ path, the permissions boundary and the owner tag (docs/security.md)"
        ),
        rule_mode=RuleMode.ALLOWED,
        eval={
            "and": [
                {"eq": [{"ref": "logical_id"}, "VendorAccessFunctionRole"]},
                {"eq": [{"ref": "policy_name"}, "vendor-access"]},
                {
                    "eq": [
                        {"ref": "actions"},
                        ["iam:CreateAccessKey", "iam:PutRolePolicy", "iam:PutUserPolicy", "iam:UpdateAssumeRolePolicy"],
                    ]
                },
            ]
        },
        rules={"PrivilegeEscalationRule"},
    ),
    Filter(
        reason=(
            "the lock bucket holds only lease objects that live seconds; old versions of a "
            "lease would be worth nothing (docs/reliability.md)"
        ),
        rule_mode=RuleMode.ALLOWED,
        eval={"eq": [{"ref": "logical_id"}, "LockBucket"]},
        rules={"S3ObjectVersioningRule"},
    ),
]
