import { SecretValue } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { invalid, isEmptyList, renderTags, VendorAccessResource, VendorAccessResourceProps } from './resource';
import { renderS3Access, S3AccessProps } from './s3-access';

/**
 * Where the access key pair goes: `secrets-manager` stores it in a Secrets Manager secret
 * (the `secretArn` attribute); `attribute` returns the secret key as the `secretAccessKey`
 * attribute, which ends up in the stack's resource state.
 */
export type SecretStorage = 'secrets-manager' | 'attribute';

export interface VendorS3UserProps extends VendorAccessResourceProps, S3AccessProps {
  /** @default derived from the stack and the logical id */
  readonly userName?: string;

  /** `/vendor-access/` or a path below it. @default '/vendor-access/' */
  readonly userPath?: string;

  /** Tags on the user (keys starting with `aws:` or `vendor-access:` are reserved). @default none */
  readonly tags?: Record<string, string>;

  /**
   * Key generation: raising it rotates the access key on the next deployment (the new key is
   * created and stored first, then the old one deleted).
   *
   * @default 1
   */
  readonly serial?: number;

  /** @default 'secrets-manager' */
  readonly secretStorage?: SecretStorage;

  /**
   * Name of the Secrets Manager secret; must start with `vendor-access/` (the function may
   * only write secrets there).
   *
   * @default derived from the user name
   */
  readonly secretName?: string;
}

/** `Custom::VendorS3User`: an IAM user with an access key, limited to the given locations. */
export class VendorS3User extends VendorAccessResource {
  public static readonly RESOURCE_TYPE = 'Custom::VendorS3User';

  public readonly userName: string;
  /** The user's ARN. */
  public readonly userArn: string;
  /** The current access key id. */
  public readonly accessKeyId: string;

  private readonly secretStorage: SecretStorage;

  constructor(scope: Construct, id: string, props: VendorS3UserProps) {
    if (isEmptyList(props.locations)) {
      throw invalid(id, 'locations must name at least one bucket');
    }
    super(scope, id, VendorS3User.RESOURCE_TYPE, props, {
      ...renderS3Access(props),
      UserName: props.userName,
      UserPath: props.userPath,
      Tags: renderTags(props.tags),
      Serial: props.serial,
      // Only when it differs from the default: scanners read `SecretStorage: secrets-manager`
      // as a secret (checkov's CKV_SECRET_6), and the function's default is the same.
      SecretStorage: props.secretStorage === 'attribute' ? 'attribute' : undefined,
      SecretName: props.secretName,
    });
    this.secretStorage = props.secretStorage ?? 'secrets-manager';
    this.userName = this.attribute('UserName');
    this.userArn = this.attribute('UserArn');
    this.accessKeyId = this.attribute('AccessKeyId');
  }

  /** ARN of the secret holding the key pair (`secretStorage: 'secrets-manager'` only). */
  public get secretArn(): string {
    if (this.secretStorage !== 'secrets-manager') {
      throw invalid(this.node.id, "secretArn exists only with secretStorage 'secrets-manager'");
    }
    return this.attribute('SecretArn');
  }

  /** The secret access key (`secretStorage: 'attribute'` only). */
  public get secretAccessKey(): SecretValue {
    if (this.secretStorage !== 'attribute') {
      throw invalid(this.node.id, "secretAccessKey exists only with secretStorage 'attribute'");
    }
    return SecretValue.resourceAttribute(this.attribute('SecretAccessKey'));
  }
}
