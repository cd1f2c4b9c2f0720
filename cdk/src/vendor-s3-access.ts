import { Duration, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { invalid, isEmptyList, renderTags, VendorAccessResource, VendorAccessResourceProps } from './resource';
import { renderS3Access, S3AccessProps } from './s3-access';
import { PRESETS_NEEDING_EXTERNAL_ID, PRESETS_WITHOUT_PRINCIPAL, VendorPreset } from './vendors';

export { VendorPreset } from './vendors';

export interface VendorS3AccessProps extends VendorAccessResourceProps, S3AccessProps {
  /**
   * A vendor preset from the catalog (docs/vendors.md); every default can be overridden.
   *
   * @default no preset: `trustedPrincipal` is required
   */
  readonly vendor?: VendorPreset;

  /**
   * Who may assume the role: 12-digit account ids, account root ARNs, or IAM role/user ARNs.
   * Wildcards are rejected.
   *
   * @default the preset's principal (required for `kolena` and without a preset)
   */
  readonly trustedPrincipal?: string | string[];

  /**
   * 2–1224 characters of `[A-Za-z0-9+=,.@:/_-]`.
   *
   * @default generated once when required and kept across updates (the `externalId` attribute)
   */
  readonly externalId?: string;

  /** @default true (false for `activeloop` and `kolena`) */
  readonly requireExternalId?: boolean;

  /** 1 to 12 hours. @default 1 hour (12 hours for `lightly`) */
  readonly maxSessionDuration?: Duration;

  /** Changing it replaces the role. @default derived from the stack and the logical id, at most 64 characters */
  readonly roleName?: string;

  /** `/vendor-access/` or a path below it. Changing it replaces the role. @default '/vendor-access/' */
  readonly rolePath?: string;

  /** @default none */
  readonly description?: string;

  /** Tags on the role (keys starting with `aws:` or `vendor-access:` are reserved). @default none */
  readonly tags?: Record<string, string>;
}

/**
 * `Custom::VendorS3Access`: an IAM role a vendor's account assumes, with an external id,
 * a session length, a policy limited to the given locations and access to their KMS keys.
 */
export class VendorS3Access extends VendorAccessResource {
  public static readonly RESOURCE_TYPE = 'Custom::VendorS3Access';

  /** The role's ARN (also the physical id). */
  public readonly roleArn: string;
  public readonly roleName: string;
  /** The role's unique id (`AROA...`). */
  public readonly roleId: string;
  /** The external id the trust policy requires; empty when none is required. */
  public readonly externalId: string;
  /** The trusted principals as ARNs, comma-joined. */
  public readonly trustedPrincipal: string;
  /** Name of the role's inline policy. */
  public readonly policyName: string;
  /** KMS keys the role was given access to, comma-joined; empty when none. */
  public readonly kmsKeyArns: string;
  /** What the function could not check or grant (e.g. an unreadable bucket encryption); empty when none. */
  public readonly warnings: string;

  constructor(scope: Construct, id: string, props: VendorS3AccessProps) {
    validate(id, props);
    super(scope, id, VendorS3Access.RESOURCE_TYPE, props, {
      Vendor: props.vendor,
      TrustedPrincipal: props.trustedPrincipal,
      ExternalId: props.externalId,
      RequireExternalId: props.requireExternalId,
      MaxSessionDuration: props.maxSessionDuration?.toSeconds(),
      ...renderS3Access(props),
      RoleName: props.roleName,
      RolePath: props.rolePath,
      Description: props.description,
      Tags: renderTags(props.tags),
    });
    this.roleArn = this.attribute('RoleArn');
    this.roleName = this.attribute('RoleName');
    this.roleId = this.attribute('RoleId');
    this.externalId = this.attribute('ExternalId');
    this.trustedPrincipal = this.attribute('TrustedPrincipal');
    this.policyName = this.attribute('PolicyName');
    this.kmsKeyArns = this.attribute('KmsKeyArns');
    this.warnings = this.attribute('Warnings');
  }
}

function validate(id: string, props: VendorS3AccessProps): void {
  if (isEmptyList(props.locations)) {
    throw invalid(id, 'locations must name at least one bucket');
  }
  if (props.trustedPrincipal === undefined && (props.vendor === undefined || PRESETS_WITHOUT_PRINCIPAL.includes(props.vendor))) {
    throw invalid(id, `trustedPrincipal is required ${props.vendor ? `for vendor '${props.vendor}'` : 'without a vendor preset'}`);
  }
  if (props.vendor !== undefined && PRESETS_NEEDING_EXTERNAL_ID.includes(props.vendor)
      && props.externalId === undefined && props.requireExternalId !== false) {
    throw invalid(id, `externalId is required for vendor '${props.vendor}': the vendor issues it`);
  }
  const duration = props.maxSessionDuration;
  if (duration !== undefined && !Token.isUnresolved(duration.toSeconds())) {
    const seconds = duration.toSeconds();
    if (seconds < 3600 || seconds > 43200) {
      throw invalid(id, `maxSessionDuration must be 1 to 12 hours, got ${seconds} seconds`);
    }
  }
}
