/**
 * What a role or user may do in a location; each level includes the ones before it:
 * `list` = `s3:ListBucket` (limited to the prefix) and `s3:GetBucketLocation`; `read` adds
 * `s3:GetObject`; `read-write` adds `s3:PutObject`; `read-write-delete` adds `s3:DeleteObject`.
 */
export type AccessLevel = 'list' | 'read' | 'read-write' | 'read-write-delete';

/**
 * How the role or user gets to use the buckets' KMS keys:
 * `auto` needs nothing for an AWS-managed key, writes an IAM statement (with `kms:ViaService`
 * = S3 of the region) for a customer key whose policy delegates to the account, and creates a
 * KMS grant otherwise; `iam-policy` and `grant` force one mechanism; `none` grants nothing.
 */
export type KmsAccessMode = 'auto' | 'iam-policy' | 'grant' | 'none';

/** A bucket, or a prefix of one, to share. */
export interface Location {
  /** Bucket name (not ARN). */
  readonly bucket: string;

  /**
   * Key prefix: listing is limited to it and object actions target `BUCKET/PREFIX*`.
   * End it with `/` to share a folder.
   *
   * @default the whole bucket
   */
  readonly prefix?: string;

  /** @default the resource's `access` */
  readonly access?: AccessLevel;
}

/** The S3 and KMS rights shared by `VendorS3Access` and `VendorS3User`. */
export interface S3AccessProps {
  /** At least one location. */
  readonly locations: Location[];

  /** Access in every location that does not set its own. @default the vendor preset's, else `read` */
  readonly access?: AccessLevel;

  /**
   * Object actions carry an `aws:SourceIp` condition with these CIDR ranges (listing stays
   * unconditioned, as in Lightly's "minimum policy").
   *
   * @default no IP condition
   */
  readonly sourceIps?: string[];

  /** Object actions carry an `aws:SourceVpc` condition. @default no VPC condition */
  readonly sourceVpcs?: string[];

  /** Object actions carry an `aws:SourceVpce` condition. @default no VPC endpoint condition */
  readonly sourceVpces?: string[];

  /** KMS keys to grant. @default each location bucket's default SSE-KMS key, detected */
  readonly kmsKeyArns?: string[];

  /** @default 'auto' */
  readonly kmsAccess?: KmsAccessMode;
}

export function renderS3Access(props: S3AccessProps): Record<string, unknown> {
  return {
    Locations: props.locations.map((location) => ({
      Bucket: location.bucket,
      Prefix: location.prefix,
      Access: location.access,
    })),
    Access: props.access,
    SourceIps: props.sourceIps,
    SourceVpcs: props.sourceVpcs,
    SourceVpces: props.sourceVpces,
    KmsKeyArns: props.kmsKeyArns,
    KmsAccess: props.kmsAccess,
  };
}
