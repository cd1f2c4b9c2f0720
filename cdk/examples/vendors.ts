// One stack per vendor setup guide, the CDK twins of ../../examples/*.yaml. The test
// synthesizes them offline; copy whichever you need into your app.
import { App, CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { BucketCors, BucketPolicyStatements, ServiceToken, VendorS3Access, VendorS3User } from '../src';

const serviceToken = ServiceToken.fromStackExport('vendor-access');

/** Lightly "S3 IAM Delegated Access": an input (read) and an output (read-write) role. */
export class LightlyDelegatedAccessStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const input = new VendorS3Access(this, 'LightlyInputRole', {
      serviceToken,
      vendor: 'lightly',
      access: 'read',
      locations: [{ bucket: 'my-datalake', prefix: 'images/' }],
    });
    const output = new VendorS3Access(this, 'LightlyOutputRole', {
      serviceToken,
      vendor: 'lightly',
      access: 'read-write',
      locations: [{ bucket: 'my-datalake', prefix: 'lightly/' }],
    });
    new CfnOutput(this, 'InputRoleArn', { value: input.roleArn });
    new CfnOutput(this, 'InputExternalId', { value: input.externalId });
    new CfnOutput(this, 'OutputRoleArn', { value: output.roleArn });
    new CfnOutput(this, 'OutputExternalId', { value: output.externalId });
  }
}

/** Lightly "S3 IAM User Access": a user whose key pair lands in Secrets Manager. */
export class LightlyUserStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const user = new VendorS3User(this, 'LightlyUser', {
      serviceToken,
      access: 'read',
      locations: [{ bucket: 'my-datalake', prefix: 'projects/farm-animals/' }],
      serial: 1, // raise to rotate the access key; the key pair goes to Secrets Manager
    });
    new CfnOutput(this, 'UserName', { value: user.userName });
    new CfnOutput(this, 'AccessKeyId', { value: user.accessKeyId });
    new CfnOutput(this, 'SecretArn', { value: user.secretArn });
  }
}

/**
 * Lightly "Minimum AWS Policy requirements": listing from anywhere, objects only from inside
 * the network, enforced on the role and by a Deny in the bucket policy.
 */
export class LightlyNetworkFenceStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const cidrs = ['21.21.21.0/24'];
    const role = new VendorS3Access(this, 'LightlyRole', {
      serviceToken,
      vendor: 'lightly',
      access: 'read',
      locations: [{ bucket: 'my-datalake', prefix: 'projects/farm-animals/' }],
      sourceIps: cidrs,
    });
    const fence = new BucketPolicyStatements(this, 'BucketFence', {
      serviceToken,
      bucket: 'my-datalake',
      restrictToNetwork: {
        sourceIps: cidrs,
        sourceVpcs: ['vpc-111bbb22'],
        allowListBucketFor: [role.roleArn],
      },
    });
    new CfnOutput(this, 'RoleArn', { value: role.roleArn });
    new CfnOutput(this, 'ExternalId', { value: role.externalId });
    new CfnOutput(this, 'Sids', { value: fence.sids });
  }
}

/** Activeloop Deep Lake role-based access to a bucket encrypted with a customer managed key. */
export class ActiveloopStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const key = new kms.Key(this, 'DatasetKey', { enableKeyRotation: true });
    // Server access logs of the data bucket, as a security team asks for; the log bucket
    // itself is not logged (its own logs would record every log delivery).
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });
    // (cdk-nag's S1 knows a log bucket when it sees one; checkov needs telling.)
    (accessLogs.node.defaultChild as s3.CfnBucket).addMetadata('checkov', {
      skip: [{ id: 'CKV_AWS_18', comment: 'The access-log bucket itself: logging it would record every log delivery' }],
    });
    const bucket = new s3.Bucket(this, 'Datasets', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'datasets/',
    });
    const role = new VendorS3Access(this, 'ActiveloopRole', {
      serviceToken,
      vendor: 'activeloop',
      locations: [{ bucket: bucket.bucketName }],
      kmsAccess: 'auto',
      kmsKeyArns: [key.keyArn],
    });
    new CfnOutput(this, 'RoleArn', { value: role.roleArn });
    new CfnOutput(this, 'KmsKeyArns', { value: role.kmsKeyArns });
    new CfnOutput(this, 'Warnings', { value: role.warnings });
  }
}

/** Kolena "Amazon S3 integration": a read role for Kolena's principal, and CORS for app.kolena.io. */
export class KolenaStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const role = new VendorS3Access(this, 'KolenaRole', {
      serviceToken,
      vendor: 'kolena',
      trustedPrincipal: 'arn:aws:iam::111122223333:role/kolena-integration',
      requireExternalId: true,
      maxSessionDuration: Duration.hours(2),
      locations: [{ bucket: 'share-with-kolena' }],
    });
    const cors = new BucketCors(this, 'KolenaCors', {
      serviceToken,
      vendor: 'kolena',
      bucket: 'share-with-kolena',
    });
    new CfnOutput(this, 'RoleArn', { value: role.roleArn });
    new CfnOutput(this, 'ExternalId', { value: role.externalId });
    new CfnOutput(this, 'RuleIds', { value: cors.ruleIds });
  }
}

/** The example app: env-agnostic stacks, so it synthesizes without credentials or lookups. */
export function vendorExampleApp(app: App = new App()) {
  // As `cdk init` sets it: S3 delivers access logs by bucket policy, not the legacy ACL.
  app.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
  return {
    app,
    lightly: new LightlyDelegatedAccessStack(app, 'LightlyDelegatedAccess'),
    lightlyUser: new LightlyUserStack(app, 'LightlyUser'),
    networkFence: new LightlyNetworkFenceStack(app, 'LightlyNetworkFence'),
    activeloop: new ActiveloopStack(app, 'Activeloop'),
    kolena: new KolenaStack(app, 'Kolena'),
  };
}
