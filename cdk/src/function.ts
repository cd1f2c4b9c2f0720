import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { CfnOutput, CfnResource, Stack, Token } from 'aws-cdk-lib';
import { CfnInclude } from 'aws-cdk-lib/cloudformation-include';
import { CfnRole, CfnManagedPolicy } from 'aws-cdk-lib/aws-iam';
import { CfnFunction, Code } from 'aws-cdk-lib/aws-lambda';
import { CfnLogGroup } from 'aws-cdk-lib/aws-logs';
import { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Instruction set of the function; the code must be built for it. */
export type Architecture = 'arm64' | 'x86_64';

export type LogLevel = 'ERROR' | 'WARN' | 'INFO' | 'DEBUG' | 'TRACE';

/** The deployer's decisions: the parameters of `template.yaml` (docs/deploy.md), as props. */
export interface VendorAccessFunctionProps {
  /** Buckets of this account the function may touch: names or `*`-patterns; `['*']` = every bucket. */
  readonly allowedBuckets: string[];
  /** Catalog vendors whose fixed principals a role may trust. @default ['*'] (every catalog vendor) */
  readonly allowedVendors?: string[];
  /** Other accounts (12-digit ids) or role/user ARNs that may be trusted or named. @default none */
  readonly allowedTrustedPrincipals?: string[];
  /** KMS keys the function may grant on beyond the allowed buckets' default keys. @default none */
  readonly allowedKmsKeyArns?: string[];
  /** A role a vendor requires at path `/` (`'ScaleAI-Integration'`). @default none */
  readonly allowedRootRoleNames?: '' | 'ScaleAI-Integration';
  /** @default 'arm64' */
  readonly architecture?: Architecture;
  /** @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** @default 30 */
  readonly logRetentionInDays?: number;
  /** A customer managed key for the log group (its key policy must allow CloudWatch Logs). @default none */
  readonly logKmsKeyArn?: string;
  /**
   * The function's zip, in S3: `Code.fromAsset()` of a zip `make package` wrote, or
   * `Code.fromBucket()`.
   *
   * @default the zip of `architecture` in this repository's `target/package/` (make package)
   */
  readonly code?: Code;
  /**
   * Prefix of the exports `<prefix>-ServiceToken` and `<prefix>-PermissionsBoundaryArn`.
   *
   * @default the stack name
   */
  readonly exportPrefix?: string;
}

/**
 * The vendor-access function itself, for a CDK app that deploys it (one per account and region).
 *
 * It includes the plain template that `make package-template` generates from `template.yaml`, so
 * its execution role, permissions boundary, log group and settings are `template.yaml`'s, with
 * the props as the parameters and the code from S3. Its resources keep `template.yaml`'s logical
 * ids: one per stack.
 */
export class VendorAccessFunction extends Construct {
  /** The plain template this construct includes (written by `make package-template`). */
  public static readonly TEMPLATE_FILE = join(__dirname, '..', '..', 'template', 'vendor-access.template.json');

  /** Template parameters and the prop that sets each. */
  public static readonly PARAMETERS: Readonly<Record<string, keyof VendorAccessFunctionProps | 'code'>> = {
    AllowedBuckets: 'allowedBuckets',
    AllowedVendors: 'allowedVendors',
    AllowedTrustedPrincipals: 'allowedTrustedPrincipals',
    AllowedKmsKeyArns: 'allowedKmsKeyArns',
    AllowedRootRoleNames: 'allowedRootRoleNames',
    Architecture: 'architecture',
    LogLevel: 'logLevel',
    LogRetentionInDays: 'logRetentionInDays',
    LogKmsKeyArn: 'logKmsKeyArn',
    ExportPrefix: 'exportPrefix',
    CodeS3Bucket: 'code',
    CodeS3Key: 'code',
    CodeS3BucketRegionSuffix: 'code',
  };

  /** The ServiceToken of the custom resources: the function ARN. */
  public readonly serviceToken: string;
  /** The permissions boundary of every role and user the function creates. */
  public readonly permissionsBoundaryArn: string;
  public readonly function: CfnFunction;
  public readonly role: CfnRole;
  public readonly permissionsBoundary: CfnManagedPolicy;
  public readonly logGroup: CfnLogGroup;
  /** The function's bucket of lease objects: writers of one bucket document take turns through it. */
  public readonly lockBucket: CfnBucket;
  /** The included template, for anything not exposed above. */
  public readonly template: CfnInclude;

  constructor(scope: Construct, id: string, props: VendorAccessFunctionProps) {
    super(scope, id);
    if (props.allowedBuckets.length === 0) {
      throw new Error(`${id}: allowedBuckets must name at least one bucket (['*'] means every bucket of the account)`);
    }
    const templateFile = VendorAccessFunction.TEMPLATE_FILE;
    if (!existsSync(templateFile)) {
      throw new Error(`${id}: ${templateFile} is missing: run 'make package-template' in the vendor-access repository`);
    }
    const architecture = props.architecture ?? 'arm64';
    const code = (props.code ?? Code.fromAsset(repositoryZip(id, architecture))).bind(this).s3Location;
    if (code === undefined) {
      throw new Error(`${id}: code must be a zip in S3 (Code.fromAsset of a zip, or Code.fromBucket)`);
    }

    const given: Record<string, unknown> = {
      AllowedBuckets: props.allowedBuckets,
      AllowedVendors: props.allowedVendors,
      AllowedTrustedPrincipals: props.allowedTrustedPrincipals,
      AllowedKmsKeyArns: props.allowedKmsKeyArns,
      AllowedRootRoleNames: props.allowedRootRoleNames,
      Architecture: architecture,
      LogLevel: props.logLevel,
      LogRetentionInDays: props.logRetentionInDays,
      LogKmsKeyArn: props.logKmsKeyArn,
      ExportPrefix: props.exportPrefix,
    };
    const declared = parametersOf(templateFile);
    // A literal prop becomes the Default of template.yaml's parameter, so the stack keeps the
    // parameters and their conditions as template.yaml has them; a token (a key of the same
    // stack, say) is put in place of the parameter's references. The code parameters go:
    // the function's Code is the asset's (or bucket's) location.
    const substituted: Record<string, unknown> = { CodeS3Bucket: code.bucketName, CodeS3Key: code.objectKey, CodeS3BucketRegionSuffix: 'false' };
    for (const name of Object.keys(given)) {
      if (given[name] !== undefined && Token.isUnresolved(given[name])) {
        substituted[name] = given[name];
      }
    }
    this.template = new CfnInclude(this, 'Template', { templateFile, parameters: substituted });
    for (const [name, parameter] of Object.entries(declared)) {
      if (!(name in VendorAccessFunction.PARAMETERS)) {
        throw new Error(`${templateFile} declares ${name}, which VendorAccessFunction does not set: add a prop`);
      }
      if (name in substituted) {
        continue;
      }
      const value = given[name] ?? parameter.Default;
      if (value === undefined) {
        throw new Error(`${id}: ${VendorAccessFunction.PARAMETERS[name]} is required`);
      }
      this.template.getParameter(name).default = Array.isArray(value) ? value.join(',') : value;
    }
    this.function = this.template.getResource('VendorAccessFunction') as CfnFunction;
    this.function.code = { s3Bucket: code.bucketName, s3Key: code.objectKey, s3ObjectVersion: code.objectVersion };
    const unused = this.template.getCondition('CodeBucketPerRegion');
    unused.node.scope?.node.tryRemoveChild(unused.node.id);
    this.role = this.template.getResource('VendorAccessFunctionRole') as CfnRole;
    this.permissionsBoundary = this.template.getResource('PermissionsBoundaryPolicy') as CfnManagedPolicy;
    this.logGroup = this.template.getResource('VendorAccessLogGroup') as CfnLogGroup;
    this.lockBucket = this.template.getResource('LockBucket') as CfnBucket;
    this.serviceToken = (this.template.getOutput('ServiceToken') as CfnOutput).value;
    this.permissionsBoundaryArn = (this.template.getOutput('PermissionsBoundaryArn') as CfnOutput).value;
    acknowledgeDeliberateFindings(this);
  }
}

function parametersOf(templateFile: string): Record<string, { Type: string; Default?: unknown }> {
  return JSON.parse(readFileSync(templateFile, 'utf8')).Parameters;
}

function repositoryZip(id: string, architecture: Architecture): string {
  const zip = join(__dirname, '..', '..', '..', 'target', 'package', architecture, 'bootstrap.zip');
  if (!existsSync(zip)) {
    throw new Error(`${id}: ${zip} is missing: run 'make package', or pass code`);
  }
  return zip;
}

/**
 * cdk-nag's findings that are this design's choices, each with its reason (docs/ci.md), as
 * acknowledgements (`Validations.of().acknowledge`, aws-cdk-lib 2.257 and newer; older
 * versions have no cdk-nag 3 to read them). IAM5 is acknowledged per wildcard resource.
 */
const SERVERLESS_REASONS: Record<string, string> = {
  'Serverless-LambdaDLQ':
    'No DLQ: CloudFormation records a failed event as the resource\'s failure, and a queued event would hold a pre-signed ResponseURL',
  'Serverless-LambdaAsyncFailureDestination':
    'No failure destination: CloudFormation records a failed event as the resource\'s failure, and a destination would hold a pre-signed ResponseURL',
  'Serverless-LambdaTracing':
    'No X-Ray: each event is a short chain of AWS calls, logged as JSON; tracing would add xray:PutTraceSegments to a role kept to the calls the code makes',
};

/** The reason for a wildcard resource of the execution role or the boundary, by what it names. */
const WILDCARD_REASONS: [RegExp, string][] = [
  [/"Ref":"AllowedBuckets"/, 'The deployer\'s AllowedBuckets (names or *-patterns by design), of this account only (aws:ResourceAccount)'],
  [/:log-stream:\*$/, 'Lambda names the log streams of the function\'s own log group at run time'],
  [/:stack\/\*\/\*$/, 'Any stack of this account and region may use the ServiceToken: DescribeStackResource (read) confirms each request'],
  [/:(role|user)\/vendor-access\/\*$/, 'The roles and users the function manages: fenced by the /vendor-access/ path, the permissions boundary and the owner tag (docs/security.md)'],
  [/:kms:<AWS::Region>:\*:key\/\*$/, 'The boundary: keys of allowed buckets are unknown here; only Decrypt/GenerateDataKey through S3 of this region (kms:ViaService)'],
  [/:kms:<AWS::Region>:<AWS::AccountId>:key\/\*$/, 'Keys of allowed buckets, this account and region; new grants only for S3 data operations to managed principals (conditions)'],
  [/:secret:vendor-access\/\*$/, 'The secrets the function writes for its users, under vendor-access/, changed only with the owner tag'],
  [/^<LockBucket\.Arn>\/turns\/\*$/, 'The lease objects of the function\'s own lock bucket, named by the bucket document whose writers take turns (docs/reliability.md)'],
];

/** cdk-nag's findings on the lock bucket, with their reasons (as template.yaml's checkov skips). */
const LOCK_BUCKET_REASONS: Record<string, string> = {
  'AwsSolutions-S1':
    'No access logs: the lock bucket holds only short-lived lease objects; every turn taken is in the function\'s own log',
};

function acknowledgeDeliberateFindings(fn: VendorAccessFunction): void {
  const validations = (cdk as unknown as { Validations?: { of(c: Construct): { acknowledge(a: { id: string; reason: string }): void } } }).Validations;
  if (validations === undefined) {
    return;
  }
  for (const [rule, reason] of Object.entries(SERVERLESS_REASONS)) {
    const target = rule === 'Serverless-LambdaAsyncFailureDestination' ? fn.template.getResource('VendorAccessFunctionEventInvokeConfig') : fn.function;
    validations.of(target).acknowledge({ id: `Serverless::${rule}`, reason });
  }
  for (const [rule, reason] of Object.entries(LOCK_BUCKET_REASONS)) {
    validations.of(fn.lockBucket).acknowledge({ id: `AwsSolutions::${rule}`, reason });
  }
  const stack = Stack.of(fn);
  const documents: [CfnResource, unknown[]][] = [
    [fn.role, (stack.resolve(fn.role.policies) as { policyDocument?: unknown; PolicyDocument?: unknown }[]).map((p) => p.policyDocument ?? p.PolicyDocument)],
    [fn.permissionsBoundary, [stack.resolve(fn.permissionsBoundary.policyDocument)]],
  ];
  for (const [resource, policies] of documents) {
    for (const finding of wildcardResources(policies)) {
      const reason = WILDCARD_REASONS.find(([pattern]) => pattern.test(finding))?.[1];
      if (reason !== undefined) {
        validations.of(resource).acknowledge({ id: `AwsSolutions::AwsSolutions-IAM5[Resource::${finding}]`, reason });
      }
    }
  }
}

/** Allow statements' resources with a wildcard, written as cdk-nag names them in its findings. */
function wildcardResources(documents: unknown[]): string[] {
  const found = new Set<string>();
  for (const document of documents as { Statement: { Effect: string; Resource?: unknown }[] }[]) {
    for (const statement of document.Statement) {
      if (statement.Effect !== 'Allow') {
        continue;
      }
      for (const resource of [statement.Resource].flat()) {
        const sub = (resource as { 'Fn::Sub'?: unknown })?.['Fn::Sub'];
        const text = typeof sub === 'string' ? sub.replace(/\$\{([^}]+)\}/g, '<$1>') : JSON.stringify(resource);
        if (text.includes('*')) {
          found.add(text);
        }
      }
    }
  }
  return [...found];
}
