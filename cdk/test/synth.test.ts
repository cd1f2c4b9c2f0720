// The constructs synthesized offline (no credentials, no lookups): the example app's
// templates carry the properties SPEC.md names, and pass cfn-lint.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { App, CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import {
  BucketCors,
  BucketPolicyStatements,
  ServiceToken,
  VendorS3Access,
  VendorS3User,
} from '../src';
import { vendorExampleApp } from '../examples/vendors';
import { cdkNag, cfnLint, checkov, scratchApp } from './scanners';

const IMPORTED_TOKEN = { 'Fn::ImportValue': 'vendor-access-ServiceToken' };

function getAtt(template: Template, type: string, attribute: string) {
  const [logicalId] = Object.keys(template.findResources(type));
  return { 'Fn::GetAtt': [logicalId, attribute] };
}

describe('the example app, one stack per vendor guide', () => {
  const stacks = vendorExampleApp();
  const templates = {
    lightly: Template.fromStack(stacks.lightly),
    lightlyUser: Template.fromStack(stacks.lightlyUser),
    networkFence: Template.fromStack(stacks.networkFence),
    activeloop: Template.fromStack(stacks.activeloop),
    kolena: Template.fromStack(stacks.kolena),
  };

  test('every custom resource imports the ServiceToken of the vendor-access stack', () => {
    for (const [name, template] of Object.entries(templates)) {
      const custom = Object.entries(template.toJSON().Resources as Record<string, any>).filter(([, r]) =>
        r.Type.startsWith('Custom::'),
      );
      assert.ok(custom.length > 0, `${name} has no custom resource`);
      for (const [logicalId, resource] of custom) {
        assert.deepEqual(resource.Properties.ServiceToken, IMPORTED_TOKEN, `${name}.${logicalId}`);
      }
    }
  });

  test('Lightly: an input (read) and an output (read-write) role, 12 h left to the preset', () => {
    const t = templates.lightly;
    t.resourceCountIs('Custom::VendorS3Access', 2);
    t.hasResourceProperties('Custom::VendorS3Access', {
      Vendor: 'lightly',
      Access: 'read',
      Locations: [{ Bucket: 'my-datalake', Prefix: 'images/' }],
    });
    t.hasResourceProperties('Custom::VendorS3Access', {
      Vendor: 'lightly',
      Access: 'read-write',
      Locations: [{ Bucket: 'my-datalake', Prefix: 'lightly/' }],
      MaxSessionDuration: Match.absent(),
      TrustedPrincipal: Match.absent(),
      ExternalId: Match.absent(),
    });
    const outputs = t.toJSON().Outputs;
    assert.deepEqual(outputs.InputRoleArn.Value['Fn::GetAtt'][1], 'RoleArn');
    assert.deepEqual(outputs.OutputExternalId.Value['Fn::GetAtt'][1], 'ExternalId');
  });

  test('Lightly user: read on a folder, key pair in Secrets Manager, rotation serial', () => {
    const t = templates.lightlyUser;
    t.resourceCountIs('Custom::VendorS3User', 1);
    t.hasResourceProperties('Custom::VendorS3User', {
      ServiceToken: IMPORTED_TOKEN,
      Access: 'read',
      Locations: [{ Bucket: 'my-datalake', Prefix: 'projects/farm-animals/' }],
      SecretStorage: Match.absent(),
      Serial: 1,
    });
    t.hasOutput('SecretArn', { Value: getAtt(t, 'Custom::VendorS3User', 'SecretArn') });
    t.hasOutput('AccessKeyId', { Value: getAtt(t, 'Custom::VendorS3User', 'AccessKeyId') });
    t.hasOutput('UserName', { Value: getAtt(t, 'Custom::VendorS3User', 'UserName') });
  });

  test('network fence: the role is IP-conditioned and the bucket policy lets the role list from anywhere', () => {
    const t = templates.networkFence;
    t.hasResourceProperties('Custom::VendorS3Access', {
      Vendor: 'lightly',
      SourceIps: ['21.21.21.0/24'],
    });
    t.hasResourceProperties('Custom::BucketPolicyStatements', {
      Bucket: 'my-datalake',
      Statements: Match.absent(),
      RestrictToNetwork: {
        SourceIps: ['21.21.21.0/24'],
        SourceVpcs: ['vpc-111bbb22'],
        AllowListBucketFor: [getAtt(t, 'Custom::VendorS3Access', 'RoleArn')],
      },
    });
    t.hasOutput('Sids', { Value: getAtt(t, 'Custom::BucketPolicyStatements', 'Sids') });
  });

  test('Activeloop: the role reaches the stack\'s own bucket and KMS key through references', () => {
    const t = templates.activeloop;
    const [bucket] = Object.keys(t.findResources('AWS::S3::Bucket', { Properties: { LoggingConfiguration: Match.anyValue() } }));
    const [key] = Object.keys(t.findResources('AWS::KMS::Key'));
    t.hasResourceProperties('Custom::VendorS3Access', {
      Vendor: 'activeloop',
      TrustedPrincipal: Match.absent(),
      Locations: [{ Bucket: { Ref: bucket } }],
      KmsAccess: 'auto',
      KmsKeyArns: [{ 'Fn::GetAtt': [key, 'Arn'] }],
    });
    t.hasOutput('KmsKeyArns', { Value: getAtt(t, 'Custom::VendorS3Access', 'KmsKeyArns') });
    t.hasOutput('Warnings', { Value: getAtt(t, 'Custom::VendorS3Access', 'Warnings') });
  });

  test('Kolena: a role for Kolena\'s principal and the kolena CORS preset', () => {
    const t = templates.kolena;
    t.hasResourceProperties('Custom::VendorS3Access', {
      Vendor: 'kolena',
      TrustedPrincipal: 'arn:aws:iam::111122223333:role/kolena-integration',
      RequireExternalId: true,
      MaxSessionDuration: 7200,
    });
    t.hasResourceProperties('Custom::BucketCors', {
      ServiceToken: IMPORTED_TOKEN,
      Vendor: 'kolena',
      Bucket: 'share-with-kolena',
      Rules: Match.absent(),
    });
    t.hasOutput('RuleIds', { Value: getAtt(t, 'Custom::BucketCors', 'RuleIds') });
  });

  test('cfn-lint, with the informational checks, finds nothing in any synthesized template', () => {
    const lint = cfnLint(Object.entries(templates).map(([name, t]) => [name, t.toJSON()]));
    assert.equal(lint.status, 0, `cfn-lint exited ${lint.status}:\n${lint.output}`);
  });

  test('the one informational check left out is one cfn-lint reports on CDK output', () => {
    const lint = cfnLint([['activeloop', templates.activeloop.toJSON()]], []);
    assert.notEqual(lint.status, 0);
    assert.match(lint.output, /I1022 Prefer using Fn::Sub over Fn::Join with an empty delimiter/);
  });

  test('a default checkov step passes every synthesized template', () => {
    const scan = checkov(Object.entries(templates).map(([name, t]) => [name, t.toJSON()]));
    assert.deepEqual(scan.failed, []);
    assert.equal(scan.status, 0);
    assert.ok(scan.passed > 10, `checkov passed only ${scan.passed} checks`);
    // The one skip: the access-log bucket is not logged itself.
    assert.equal(scan.skipped.length, 1, String(scan.skipped));
    assert.match(scan.skipped[0], /^CKV_AWS_18 AWS::S3::Bucket\.AccessLogs[0-9A-F]{8}$/);
  });

  test('the data bucket has access logs and versioning; without them checkov fails', () => {
    const activeloop = templates.activeloop.toJSON();
    const [data] = Object.keys(templates.activeloop.findResources('AWS::S3::Bucket', { Properties: { LoggingConfiguration: Match.anyValue() } }));
    assert.ok(data, 'no bucket with access logs');
    assert.deepEqual(activeloop.Resources[data].Properties.VersioningConfiguration, { Status: 'Enabled' });
    const bare = structuredClone(activeloop);
    delete bare.Resources[data].Properties.LoggingConfiguration;
    delete bare.Resources[data].Properties.VersioningConfiguration;
    const scan = checkov([['bare', bare]]);
    assert.deepEqual(scan.failed, [`CKV_AWS_18 AWS::S3::Bucket.${data}`, `CKV_AWS_21 AWS::S3::Bucket.${data}`]);
    // The log bucket's skip is one checkov reports without it.
    const unskipped = structuredClone(activeloop);
    for (const resource of Object.values(unskipped.Resources as Record<string, any>)) {
      delete resource.Metadata?.checkov;
    }
    assert.equal(checkov([['unskipped', unskipped]]).failed.filter((f) => f.startsWith('CKV_AWS_18 ')).length, 1);
  });

  test('cdk-nag (AwsSolutions, Serverless) finds nothing unacknowledged in the example app', () => {
    const nag = cdkNag(vendorExampleApp(scratchApp()).app);
    assert.deepEqual(nag.violations, []);
    assert.deepEqual(nag.acknowledged, []);
  });

  test('cdk-nag would report a data bucket without access logs', () => {
    const app = scratchApp();
    const stacks = vendorExampleApp(app);
    const bucket = stacks.activeloop.node.findChild('Datasets').node.defaultChild as s3.CfnBucket;
    bucket.loggingConfiguration = undefined;
    const nag = cdkNag(app);
    // Both: the log bucket is then no log bucket either.
    assert.deepEqual(nag.violations.map((f) => `${f.rule} ${f.path}`).sort(), [
      'AwsSolutions-S1 Activeloop/AccessLogs/Resource',
      'AwsSolutions-S1 Activeloop/Datasets/Resource',
    ]);
  });

  test('the cfn-lint check catches a broken template', () => {
    const broken = structuredClone(templates.kolena.toJSON());
    broken.Outputs.RoleArn.Value = { 'Fn::GetAtt': ['NoSuchResource', 'RoleArn'] };
    const lint = cfnLint([['broken', broken]]);
    assert.notEqual(lint.status, 0);
    assert.match(lint.output, /NoSuchResource/);
  });
});

describe('property rendering', () => {
  function customResource(build: (stack: Stack) => void): Record<string, unknown> {
    const stack = new Stack(new App(), 'Probe');
    build(stack);
    const resources = Object.values(Template.fromStack(stack).toJSON().Resources as Record<string, any>);
    const custom = resources.filter((r) => r.Type.startsWith('Custom::'));
    assert.equal(custom.length, 1);
    return custom[0].Properties;
  }
  const serviceToken = 'arn:aws:lambda:eu-west-1:111122223333:function:vendor-access';

  test('every VendorS3Access prop maps to the SPEC property of the same name', () => {
    const properties = customResource((stack) =>
      new VendorS3Access(stack, 'Role', {
        serviceToken,
        vendor: 'lightly',
        trustedPrincipal: ['916419735646'],
        externalId: 'my-external-id',
        requireExternalId: false,
        maxSessionDuration: Duration.hours(12),
        locations: [{ bucket: 'b', prefix: 'p/', access: 'list' }],
        access: 'read-write-delete',
        sourceIps: ['10.0.0.0/8'],
        sourceVpcs: ['vpc-1'],
        sourceVpces: ['vpce-1'],
        kmsKeyArns: ['arn:aws:kms:eu-west-1:111122223333:key/k'],
        kmsAccess: 'grant',
        roleName: 'lightly',
        rolePath: '/vendor-access/lightly/',
        description: 'Lightly',
        tags: { team: 'data', env: 'prod' },
      }),
    );
    assert.deepEqual(properties, {
      ServiceToken: serviceToken,
      Vendor: 'lightly',
      TrustedPrincipal: ['916419735646'],
      ExternalId: 'my-external-id',
      RequireExternalId: false,
      MaxSessionDuration: 43200,
      Locations: [{ Bucket: 'b', Prefix: 'p/', Access: 'list' }],
      Access: 'read-write-delete',
      SourceIps: ['10.0.0.0/8'],
      SourceVpcs: ['vpc-1'],
      SourceVpces: ['vpce-1'],
      KmsKeyArns: ['arn:aws:kms:eu-west-1:111122223333:key/k'],
      KmsAccess: 'grant',
      RoleName: 'lightly',
      RolePath: '/vendor-access/lightly/',
      Description: 'Lightly',
      Tags: [
        { Key: 'team', Value: 'data' },
        { Key: 'env', Value: 'prod' },
      ],
    });
  });

  test('every VendorS3User prop maps to the SPEC property of the same name', () => {
    const properties = customResource((stack) =>
      new VendorS3User(stack, 'User', {
        serviceToken,
        locations: [{ bucket: 'b' }],
        access: 'read',
        sourceIps: ['10.0.0.0/8'],
        sourceVpcs: ['vpc-1'],
        sourceVpces: ['vpce-1'],
        kmsKeyArns: ['arn:aws:kms:eu-west-1:111122223333:key/k'],
        kmsAccess: 'none',
        userName: 'lightly',
        userPath: '/vendor-access/',
        tags: { team: 'data' },
        serial: 3,
        secretStorage: 'attribute',
        secretName: 'vendor-access/lightly',
      }),
    );
    assert.deepEqual(properties, {
      ServiceToken: serviceToken,
      Locations: [{ Bucket: 'b' }],
      Access: 'read',
      SourceIps: ['10.0.0.0/8'],
      SourceVpcs: ['vpc-1'],
      SourceVpces: ['vpce-1'],
      KmsKeyArns: ['arn:aws:kms:eu-west-1:111122223333:key/k'],
      KmsAccess: 'none',
      UserName: 'lightly',
      UserPath: '/vendor-access/',
      Tags: [{ Key: 'team', Value: 'data' }],
      Serial: 3,
      SecretStorage: 'attribute',
      SecretName: 'vendor-access/lightly',
    });
  });

  test('SecretStorage is rendered only when it is not the default', () => {
    for (const secretStorage of [undefined, 'secrets-manager'] as const) {
      const properties = customResource((stack) =>
        new VendorS3User(stack, 'User', { serviceToken, locations: [{ bucket: 'b' }], secretStorage }),
      );
      assert.equal('SecretStorage' in properties, false, `secretStorage: ${secretStorage}`);
    }
  });

  test('every BucketCors prop maps to the SPEC property of the same name', () => {
    const properties = customResource((stack) =>
      new BucketCors(stack, 'Cors', {
        serviceToken,
        bucket: 'b',
        rules: [
          {
            allowedOrigins: ['https://app.example.com'],
            allowedMethods: ['GET', 'HEAD'],
            allowedHeaders: ['*'],
            exposeHeaders: ['ETag'],
            maxAgeSeconds: 600,
          },
        ],
      }),
    );
    assert.deepEqual(properties, {
      ServiceToken: serviceToken,
      Bucket: 'b',
      Rules: [
        {
          AllowedOrigins: ['https://app.example.com'],
          AllowedMethods: ['GET', 'HEAD'],
          AllowedHeaders: ['*'],
          ExposeHeaders: ['ETag'],
          MaxAgeSeconds: 600,
        },
      ],
    });
  });

  test('every BucketPolicyStatements prop maps to the SPEC property of the same name', () => {
    const properties = customResource((stack) => {
      const statement = new iam.PolicyStatement({
        sid: 'DenyInsecureTransport',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:*'],
        resources: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'],
      });
      new BucketPolicyStatements(stack, 'Policy', {
        serviceToken,
        bucket: 'b',
        statements: [statement],
        restrictToNetwork: {
          sourceIps: ['10.0.0.0/8'],
          sourceVpcs: ['vpc-1'],
          sourceVpces: ['vpce-1'],
          exemptPrincipalArns: ['arn:aws:iam::111122223333:role/admin'],
          allowListBucketFor: ['arn:aws:iam::111122223333:role/lister'],
        },
        vendor: 'wandb',
        access: 'read',
        prefix: 'runs/',
        acceptLockoutRisk: true,
      });
      // Lazy: a condition added after the construct was created still lands in the template.
      statement.addCondition('Bool', { 'aws:SecureTransport': 'false' });
    });
    assert.deepEqual(properties, {
      ServiceToken: serviceToken,
      Bucket: 'b',
      Statements: [
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 's3:*',
          Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
      RestrictToNetwork: {
        SourceIps: ['10.0.0.0/8'],
        SourceVpcs: ['vpc-1'],
        SourceVpces: ['vpce-1'],
        ExemptPrincipalArns: ['arn:aws:iam::111122223333:role/admin'],
        AllowListBucketFor: ['arn:aws:iam::111122223333:role/lister'],
      },
      Vendor: 'wandb',
      Access: 'read',
      Prefix: 'runs/',
      AcceptLockoutRisk: true,
    });
  });

  test('resource types, attributes and the removal policy', () => {
    const stack = new Stack(new App(), 'Probe');
    const role = new VendorS3Access(stack, 'Role', {
      serviceToken: ServiceToken.fromStackExport('shared-vendor-access'),
      vendor: 'lightly',
      locations: [{ bucket: 'b' }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const user = new VendorS3User(stack, 'User', {
      serviceToken: ServiceToken.fromStackExport(),
      locations: [{ bucket: 'b' }],
      secretStorage: 'attribute',
    });
    const attributes = {
      roleArn: role.roleArn,
      roleName: role.roleName,
      roleId: role.roleId,
      externalId: role.externalId,
      trustedPrincipal: role.trustedPrincipal,
      policyName: role.policyName,
      kmsKeyArns: role.kmsKeyArns,
      warnings: role.warnings,
      userName: user.userName,
      userArn: user.userArn,
      accessKeyId: user.accessKeyId,
      secretAccessKey: user.secretAccessKey.unsafeUnwrap(),
    };
    const resolved = Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, stack.resolve(v)]));
    const roleId = stack.getLogicalId(role.resource.node.defaultChild as CfnResource);
    const userId = stack.getLogicalId(user.resource.node.defaultChild as CfnResource);
    assert.deepEqual(resolved, {
      roleArn: { 'Fn::GetAtt': [roleId, 'RoleArn'] },
      roleName: { 'Fn::GetAtt': [roleId, 'RoleName'] },
      roleId: { 'Fn::GetAtt': [roleId, 'RoleId'] },
      externalId: { 'Fn::GetAtt': [roleId, 'ExternalId'] },
      trustedPrincipal: { 'Fn::GetAtt': [roleId, 'TrustedPrincipal'] },
      policyName: { 'Fn::GetAtt': [roleId, 'PolicyName'] },
      kmsKeyArns: { 'Fn::GetAtt': [roleId, 'KmsKeyArns'] },
      warnings: { 'Fn::GetAtt': [roleId, 'Warnings'] },
      userName: { 'Fn::GetAtt': [userId, 'UserName'] },
      userArn: { 'Fn::GetAtt': [userId, 'UserArn'] },
      accessKeyId: { 'Fn::GetAtt': [userId, 'AccessKeyId'] },
      secretAccessKey: { 'Fn::GetAtt': [userId, 'SecretAccessKey'] },
    });
    assert.throws(() => user.secretArn, /secretArn exists only with secretStorage 'secrets-manager'/);

    const template = Template.fromStack(stack);
    template.hasResource('Custom::VendorS3Access', {
      DeletionPolicy: 'Retain',
      Properties: { ServiceToken: { 'Fn::ImportValue': 'shared-vendor-access-ServiceToken' } },
    });
    template.hasResource('Custom::VendorS3User', {
      DeletionPolicy: 'Delete',
      Properties: { ServiceToken: IMPORTED_TOKEN, SecretStorage: 'attribute' },
    });
  });

  test('a user storing its key in Secrets Manager has no secretAccessKey', () => {
    const user = new VendorS3User(new Stack(new App(), 'Probe'), 'User', {
      serviceToken,
      locations: [{ bucket: 'b' }],
    });
    assert.throws(() => user.secretAccessKey, /secretAccessKey exists only with secretStorage 'attribute'/);
  });
});

describe('props the function would refuse fail at synth time', () => {
  const serviceToken = 'arn:aws:lambda:eu-west-1:111122223333:function:vendor-access';
  const stack = () => new Stack(new App(), 'Probe');

  test('a Kolena role without the principal Kolena supplies', () => {
    assert.throws(
      () => new VendorS3Access(stack(), 'Kolena', { serviceToken, vendor: 'kolena', locations: [{ bucket: 'b' }] }),
      /Kolena: trustedPrincipal is required for vendor 'kolena'/,
    );
  });

  test('a role without a preset or a principal', () => {
    assert.throws(
      () => new VendorS3Access(stack(), 'Role', { serviceToken, locations: [{ bucket: 'b' }] }),
      /trustedPrincipal is required without a vendor preset/,
    );
  });

  test('no locations', () => {
    assert.throws(
      () => new VendorS3Access(stack(), 'Role', { serviceToken, vendor: 'lightly', locations: [] }),
      /locations must name at least one bucket/,
    );
    assert.throws(
      () => new VendorS3User(stack(), 'User', { serviceToken, locations: [] }),
      /locations must name at least one bucket/,
    );
  });

  test('a session longer than 12 hours', () => {
    assert.throws(
      () =>
        new VendorS3Access(stack(), 'Role', {
          serviceToken,
          vendor: 'lightly',
          locations: [{ bucket: 'b' }],
          maxSessionDuration: Duration.hours(13),
        }),
      /maxSessionDuration must be 1 to 12 hours, got 46800 seconds/,
    );
  });

  test('CORS without rules or a preset', () => {
    assert.throws(() => new BucketCors(stack(), 'Cors', { serviceToken, bucket: 'b' }), /rules must hold at least one rule/);
  });

  test('access and prefix without a bucket-policy vendor', () => {
    assert.throws(
      () =>
        new BucketPolicyStatements(stack(), 'Policy', {
          serviceToken,
          bucket: 'b',
          restrictToNetwork: { sourceIps: ['10.0.0.0/8'], exemptPrincipalArns: ['arn:aws:iam::111122223333:role/a'] },
          prefix: 'runs/',
        }),
      /access and prefix apply only with vendor/,
    );
  });

  test('a bucket policy resource with nothing to merge, or a fence without networks', () => {
    assert.throws(
      () => new BucketPolicyStatements(stack(), 'Policy', { serviceToken, bucket: 'b' }),
      /give statements, restrictToNetwork or vendor/,
    );
    assert.throws(
      () =>
        new BucketPolicyStatements(stack(), 'Policy', {
          serviceToken,
          bucket: 'b',
          restrictToNetwork: { exemptPrincipalArns: ['arn:aws:iam::111122223333:role/admin'] },
        }),
      /restrictToNetwork needs sourceIps, sourceVpcs or sourceVpces/,
    );
  });

  test('a bucket policy statement without a principal', () => {
    const s = stack();
    new BucketPolicyStatements(s, 'Policy', {
      serviceToken,
      bucket: 'b',
      statements: [new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::b/*'] })],
    });
    assert.throws(() => Template.fromStack(s), /must specify at least one IAM principal/);
  });
});
