import { Lazy } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { invalid, isEmptyList, VendorAccessResource, VendorAccessResourceProps } from './resource';
import { AccessLevel } from './s3-access';
import { BucketPolicyVendorPreset } from './vendors';

export { BucketPolicyVendorPreset } from './vendors';

/**
 * A Deny of object actions from outside the listed networks, exempting AWS service
 * principals, `exemptPrincipalArns`, and `allowListBucketFor` for `s3:ListBucket`.
 */
export interface NetworkRestriction {
  /** CIDR ranges object access may come from. @default none */
  readonly sourceIps?: string[];
  /** VPCs (through a gateway endpoint) object access may come from. @default none */
  readonly sourceVpcs?: string[];
  /** VPC endpoints object access may come from. @default none */
  readonly sourceVpces?: string[];
  /** Principals that keep object access from anywhere (e.g. a break-glass role). @default none */
  readonly exemptPrincipalArns?: string[];
  /** Principals that may list the bucket from anywhere. @default none */
  readonly allowListBucketFor?: string[];
}

export interface BucketPolicyStatementsProps extends VendorAccessResourceProps {
  /** An existing bucket. */
  readonly bucket: string;

  /** Statements to merge into the bucket policy; their `Sid`s are namespaced by the owner id. @default none */
  readonly statements?: PolicyStatement[];

  /** @default no network fence */
  readonly restrictToNetwork?: NetworkRestriction;

  /**
   * A vendor whose guide gives access by bucket policy (docs/vendors.md): its principal may
   * list the bucket under `prefix` and act on the objects below it as `access` allows.
   *
   * @default no vendor
   */
  readonly vendor?: BucketPolicyVendorPreset;

  /** With `vendor`: what it may do. @default the preset's access */
  readonly access?: AccessLevel;

  /** With `vendor`: the key prefix it may use. @default the whole bucket */
  readonly prefix?: string;

  /**
   * The function refuses a network Deny that exempts nobody (it could lock the account
   * out of the bucket) unless this is true.
   *
   * @default false
   */
  readonly acceptLockoutRisk?: boolean;
}

/**
 * `Custom::BucketPolicyStatements`: statements merged into an existing bucket's policy.
 * Statements this resource owns are identified by their Sids; the rest of the policy is kept.
 */
export class BucketPolicyStatements extends VendorAccessResource {
  public static readonly RESOURCE_TYPE = 'Custom::BucketPolicyStatements';

  /** Sids of the statements this resource owns in the bucket policy. */
  public readonly sids: string;

  constructor(scope: Construct, id: string, props: BucketPolicyStatementsProps) {
    const statements = props.statements;
    const network = props.restrictToNetwork;
    if (isEmptyList(statements) && network === undefined && props.vendor === undefined) {
      throw invalid(id, 'give statements, restrictToNetwork or vendor');
    }
    if (props.vendor === undefined && (props.access !== undefined || props.prefix !== undefined)) {
      throw invalid(id, 'access and prefix apply only with vendor');
    }
    if (network !== undefined && [network.sourceIps, network.sourceVpcs, network.sourceVpces].every(isEmptyList)) {
      throw invalid(id, 'restrictToNetwork needs sourceIps, sourceVpcs or sourceVpces');
    }
    super(scope, id, BucketPolicyStatements.RESOURCE_TYPE, props, {
      Bucket: props.bucket,
      // Lazy: statements may still be added to after the construct is created.
      Statements: statements && Lazy.any({ produce: () => statements.map((s) => s.toStatementJson()) }),
      RestrictToNetwork: network && {
        SourceIps: network.sourceIps,
        SourceVpcs: network.sourceVpcs,
        SourceVpces: network.sourceVpces,
        ExemptPrincipalArns: network.exemptPrincipalArns,
        AllowListBucketFor: network.allowListBucketFor,
      },
      Vendor: props.vendor,
      Access: props.access,
      Prefix: props.prefix,
      AcceptLockoutRisk: props.acceptLockoutRisk,
    });
    this.node.addValidation({
      validate: () => (statements ?? []).flatMap((s) => s.validateForResourcePolicy()),
    });
    this.sids = this.attribute('Sids');
  }
}
