"""Lightly's vendor role as a CloudFormation custom resource, written the way most teams
write one today: crhelper for the protocol, boto3 for IAM, one file.

It is the bench's baseline, not part of the product. It serves the same properties as
`Custom::VendorS3Access` with `Vendor: lightly` (trust account 916419735646 with an external
id, 12-hour sessions, an inline policy for each bucket/prefix in `Locations`, `Access`
default read-write-delete) and nothing else: no property validation, no ownership tags
checked before changing or deleting, no KMS detection, no retry on IAM propagation.
Everything it leaves out is work the Rust function does and this does not.
"""

import json
import os
import secrets

import boto3
from crhelper import CfnResource

helper = CfnResource()
iam = boto3.client("iam")

LIGHTLY_ACCOUNT_ID = "916419735646"
ROLE_PATH = "/vendor-access/"
POLICY_NAME = "vendor-access-s3"
MAX_SESSION_DURATION = 43200
OBJECT_ACTIONS = {
    "list": [],
    "read": ["s3:GetObject"],
    "read-write": ["s3:GetObject", "s3:PutObject"],
    "read-write-delete": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
}


def role_name(event):
    stack_name = event["StackId"].split("/")[1]
    return f"{stack_name}-{event['LogicalResourceId']}"[:64]


def trust_policy(external_id):
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{LIGHTLY_ACCOUNT_ID}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
        }],
    }


def permission_policy(props):
    access = props.get("Access", "read-write-delete")
    statements = []
    for location in props["Locations"]:
        bucket, prefix = location["Bucket"], location.get("Prefix", "")
        actions = OBJECT_ACTIONS[location.get("Access", access)]
        statements.append({
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        })
        if actions:
            statements.append({
                "Effect": "Allow",
                "Action": actions,
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
            })
    return {"Version": "2012-10-17", "Statement": statements}


def outputs(role, external_id):
    helper.Data.update({
        "RoleArn": role["Arn"],
        "RoleName": role["RoleName"],
        "RoleId": role["RoleId"],
        "ExternalId": external_id,
        "PolicyName": POLICY_NAME,
    })


@helper.create
def create(event, context):
    props = event["ResourceProperties"]
    name = role_name(event)
    external_id = props.get("ExternalId") or secrets.token_urlsafe(24)
    extra = {}
    if os.environ.get("PERMISSIONS_BOUNDARY_ARN"):
        extra["PermissionsBoundary"] = os.environ["PERMISSIONS_BOUNDARY_ARN"]
    role = iam.create_role(
        RoleName=name,
        Path=ROLE_PATH,
        AssumeRolePolicyDocument=json.dumps(trust_policy(external_id)),
        MaxSessionDuration=MAX_SESSION_DURATION,
        Tags=[{"Key": "vendor-access:owner", "Value": f"{event['StackId']}/{event['LogicalResourceId']}"}],
        **extra,
    )["Role"]
    iam.put_role_policy(
        RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(permission_policy(props))
    )
    outputs(role, external_id)
    return role["Arn"]


@helper.update
def update(event, context):
    props = event["ResourceProperties"]
    name = event["PhysicalResourceId"].split("/")[-1]
    external_id = props.get("ExternalId") or event["OldResourceProperties"].get("ExternalId")
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy(external_id)))
    iam.update_role(RoleName=name, MaxSessionDuration=MAX_SESSION_DURATION)
    iam.put_role_policy(
        RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(permission_policy(props))
    )
    outputs(iam.get_role(RoleName=name)["Role"], external_id)
    return event["PhysicalResourceId"]


@helper.delete
def delete(event, context):
    name = event["PhysicalResourceId"].split("/")[-1]
    try:
        iam.delete_role_policy(RoleName=name, PolicyName=POLICY_NAME)
    except iam.exceptions.NoSuchEntityException:
        pass
    try:
        iam.delete_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        pass


def handler(event, context):
    helper(event, context)
