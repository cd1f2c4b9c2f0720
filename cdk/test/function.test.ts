// VendorAccessFunction, held to template.yaml: the template is read as it is (CfnInclude of
// ../template.yaml, SAM function and all) and compared with the construct's synth, so no
// expectation is copied by hand.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CfnInclude } from 'aws-cdk-lib/cloudformation-include';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { VendorAccessFunction, VendorAccessFunctionProps } from '../src';
import { cdkNag, cfnLint, checkov, scratchApp } from './scanners';

const TEMPLATE_YAML = resolve(__dirname, '../../../template.yaml');
const FUNCTION = 'VendorAccessFunction';
const KEY = 'vendor-access/0.1.0/arm64/bootstrap.zip';

/** template.yaml as CloudFormation JSON, untouched. */
function templateYaml(): any {
  const stack = new Stack(new App(), 'TemplateYaml');
  new CfnInclude(stack, 'Template', { templateFile: TEMPLATE_YAML });
  return normalized(Template.fromStack(stack).toJSON());
}

/** The construct in a stack of `app` (not yet synthesized: cdk-nag must be added first). */
function build(props: Partial<VendorAccessFunctionProps> = {}, app = new App()): Stack {
  const stack = new Stack(app, 'VendorAccess');
  const code = lambda.Code.fromBucket(s3.Bucket.fromBucketName(stack, 'Artifacts', 'artifacts'), KEY);
  new VendorAccessFunction(stack, 'VendorAccess', { allowedBuckets: ['datalake-*', 'ml-results'], code, ...props });
  return stack;
}

function synth(props: Partial<VendorAccessFunctionProps> = {}): { template: any } {
  return { template: normalized(Template.fromStack(build(props)).toJSON()) };
}

/** `Fn::GetAtt: "A.B"` (as CfnInclude keeps template.yaml's) written as `["A", "B"]`. */
function normalized(node: any): any {
  if (Array.isArray(node)) {
    return node.map(normalized);
  }
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, k === 'Fn::GetAtt' && typeof v === 'string' ? v.split('.') : normalized(v)]),
    );
  }
  return node;
}

const sam = templateYaml();

describe('VendorAccessFunction is template.yaml', () => {
  const { template } = synth();

  test('the execution role, the boundary, the log group: every resource but the function, unchanged', () => {
    const others = Object.keys(sam.Resources).filter((id) => id !== FUNCTION);
    assert.ok(others.includes('VendorAccessFunctionRole') && others.includes('PermissionsBoundaryPolicy'));
    assert.ok(others.includes('LockBucket') && others.includes('LockBucketPolicy'));
    for (const id of others) {
      assert.deepEqual(template.Resources[id], sam.Resources[id], id);
    }
    // The policy documents themselves, structurally.
    assert.deepEqual(
      template.Resources.VendorAccessFunctionRole.Properties.Policies,
      sam.Resources.VendorAccessFunctionRole.Properties.Policies,
    );
    assert.deepEqual(
      template.Resources.PermissionsBoundaryPolicy.Properties.PolicyDocument,
      sam.Resources.PermissionsBoundaryPolicy.Properties.PolicyDocument,
    );
  });

  test('the parameters are template.yaml\'s, with the props as their defaults', () => {
    for (const [name, parameter] of Object.entries(sam.Parameters as Record<string, any>)) {
      const expected = name === 'AllowedBuckets' ? { ...parameter, Default: 'datalake-*,ml-results' } : parameter;
      assert.deepEqual(template.Parameters[name], expected, name);
    }
    assert.deepEqual(
      Object.keys(template.Parameters).filter((n) => !(n in sam.Parameters)).sort(),
      ['ExportPrefix'],
    );
    for (const [name, condition] of Object.entries(sam.Conditions as Record<string, unknown>)) {
      assert.deepEqual(template.Conditions[name], condition, name);
    }
  });

  test('the function keeps every property of template.yaml\'s, with its code from S3', () => {
    const { CodeUri, EventInvokeConfig, ...properties } = sam.Resources[FUNCTION].Properties;
    assert.equal(CodeUri, '.');
    const fn = template.Resources[FUNCTION];
    assert.equal(fn.Type, 'AWS::Lambda::Function');
    const { Code, ...rest } = fn.Properties;
    assert.deepEqual(rest, properties);
    assert.deepEqual(Code, { S3Bucket: 'artifacts', S3Key: KEY });
    assert.deepEqual(fn.Metadata.checkov, sam.Resources[FUNCTION].Metadata.checkov);
    assert.deepEqual(template.Resources[`${FUNCTION}EventInvokeConfig`].Properties, {
      FunctionName: { Ref: FUNCTION },
      Qualifier: '$LATEST',
      ...EventInvokeConfig,
    });
  });

  test('the outputs are template.yaml\'s; the exports may take a fixed prefix', () => {
    for (const [name, output] of Object.entries(sam.Outputs as Record<string, any>)) {
      assert.deepEqual(template.Outputs[name].Value, output.Value, name);
      if (output.Export) {
        assert.deepEqual(template.Outputs[name].Export.Name['Fn::If'][2], output.Export.Name, name);
      }
    }
  });

  test('every parameter has a prop, and every prop reaches its parameter', () => {
    assert.deepEqual(
      Object.keys(VendorAccessFunction.PARAMETERS).sort(),
      Object.keys(JSON.parse(require('node:fs').readFileSync(VendorAccessFunction.TEMPLATE_FILE, 'utf8')).Parameters).sort(),
    );
    const props = {
      allowedBuckets: ['b1', 'b2'],
      allowedVendors: ['lightly', 'kolena'],
      allowedTrustedPrincipals: ['111122223333'],
      allowedKmsKeyArns: ['arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab'],
      allowedRootRoleNames: 'ScaleAI-Integration' as const,
      architecture: 'x86_64' as const,
      logLevel: 'DEBUG' as const,
      logRetentionInDays: 90,
      logKmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/abcd',
      exportPrefix: 'vendor-access',
    };
    const defaults = Object.fromEntries(Object.entries(synth(props).template.Parameters as Record<string, any>).map(([n, p]) => [n, p.Default]));
    assert.deepEqual(defaults, {
      AllowedBuckets: 'b1,b2',
      AllowedVendors: 'lightly,kolena',
      AllowedTrustedPrincipals: '111122223333',
      AllowedKmsKeyArns: props.allowedKmsKeyArns[0],
      AllowedRootRoleNames: 'ScaleAI-Integration',
      Architecture: 'x86_64',
      LogLevel: 'DEBUG',
      LogRetentionInDays: 90,
      LogKmsKeyArn: props.logKmsKeyArn,
      ExportPrefix: 'vendor-access',
      BootstrapVersion: '/cdk-bootstrap/hnb659fds/version',
    });
  });

  test('a prop that is a token (a key of the same stack) takes the parameter\'s place', () => {
    const app = new App();
    const stack = new Stack(app, 'WithKey');
    const key = new kms.Key(stack, 'LogKey', { enableKeyRotation: true });
    const code = lambda.Code.fromBucket(s3.Bucket.fromBucketName(stack, 'Artifacts', 'artifacts'), KEY);
    new VendorAccessFunction(stack, 'VendorAccess', { allowedBuckets: ['b'], code, logKmsKeyArn: key.keyArn });
    const t = Template.fromStack(stack).toJSON();
    assert.equal('LogKmsKeyArn' in t.Parameters, false);
    const [keyId] = Object.keys(Template.fromStack(stack).findResources('AWS::KMS::Key'));
    assert.deepEqual(t.Resources.VendorAccessLogGroup.Properties.KmsKeyId, {
      'Fn::If': ['HasLogKmsKey', { 'Fn::GetAtt': [keyId, 'Arn'] }, { Ref: 'AWS::NoValue' }],
    });
  });

  test('the code of make package, as an asset', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vendor-access-zip-'));
    const zip = join(dir, 'bootstrap.zip');
    writeFileSync(zip, 'PK\u0005\u0006' + '\u0000'.repeat(18)); // an empty zip
    const stack = new Stack(new App(), 'FromAsset');
    new VendorAccessFunction(stack, 'VendorAccess', { allowedBuckets: ['b'], code: lambda.Code.fromAsset(zip) });
    const code = Template.fromStack(stack).toJSON().Resources[FUNCTION].Properties.Code;
    assert.deepEqual(code.S3Bucket, { 'Fn::Sub': 'cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}' });
    assert.match(code.S3Key, /^[0-9a-f]{64}\.zip$/);
  });

  test('without code, the zip make package writes in this repository', () => {
    const zip = resolve(__dirname, '../../../target/package/arm64/bootstrap.zip');
    const build = () => new VendorAccessFunction(new Stack(new App(), 'Default'), 'VendorAccess', { allowedBuckets: ['b'] });
    if (existsSync(zip)) {
      assert.doesNotThrow(build);
    } else {
      assert.throws(build, /target\/package\/arm64\/bootstrap\.zip is missing: run 'make package', or pass code/);
    }
  });

  test('allowedBuckets must name a bucket', () => {
    assert.throws(() => synth({ allowedBuckets: [] }), /allowedBuckets must name at least one bucket/);
  });
});

describe('VendorAccessFunction and the scanners', () => {
  const { template } = synth();

  test('cfn-lint, with the informational checks, finds nothing', () => {
    const lint = cfnLint([['function', template]]);
    assert.equal(lint.status, 0, lint.output);
  });

  test('a default checkov step passes; what it skips is template.yaml\'s Metadata', () => {
    const scan = checkov([['function', template]]);
    assert.deepEqual(scan.failed, []);
    assert.equal(scan.status, 0);
    // The function's skips and the lock bucket's, each under the type the plain template gives it.
    const skips = Object.entries(sam.Resources as Record<string, any>).flatMap(([id, resource]) =>
      (resource.Metadata?.checkov?.skip ?? []).map(
        (s: any) => `${s.id} ${id === FUNCTION ? 'AWS::Lambda::Function' : resource.Type}.${id}`,
      ),
    );
    assert.deepEqual(scan.skipped, skips.sort());
  });

  test('cdk-nag (AwsSolutions, Serverless) finds nothing unacknowledged', () => {
    const app = scratchApp();
    build({}, app);
    const nag = cdkNag(app);
    assert.deepEqual(nag.violations, []);
    assert.ok(nag.acknowledged.length >= 10, `${nag.acknowledged.length} acknowledged`);
  });

  test('each acknowledgement is a finding of the same template without them', () => {
    // The same template through a bare CfnInclude: no acknowledgements.
    const app = scratchApp();
    const stack = new Stack(app, 'Bare');
    new CfnInclude(stack, 'Template', {
      templateFile: VendorAccessFunction.TEMPLATE_FILE,
      parameters: { CodeS3Bucket: 'artifacts', CodeS3Key: KEY, AllowedBuckets: ['datalake-*', 'ml-results'] },
    });
    const bare = cdkNag(app);
    const withConstruct = scratchApp();
    build({}, withConstruct);
    const acknowledged = cdkNag(withConstruct).acknowledged;
    const rules = (findings: { rule: string; path: string }[]) =>
      findings.map((f) => `${f.rule} ${f.path.split('/').pop() === 'Resource' ? f.path.split('/').slice(-2)[0] : f.path.split('/').pop()}`).sort();
    const found = new Set(rules(bare.violations));
    for (const finding of rules(acknowledged)) {
      // The bare include substitutes AllowedBuckets, so its S3 findings name the literal list.
      const key = finding.includes('"Ref":"AllowedBuckets"')
        ? finding.replace(/\{"Ref":"AllowedBuckets"\}/g, '["datalake-*","ml-results"]')
        : finding;
      assert.ok(found.has(key), `acknowledged, yet not a finding without it: ${finding}`);
    }
    assert.equal(found.size, acknowledged.length);
  });
});
