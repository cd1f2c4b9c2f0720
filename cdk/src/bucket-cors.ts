import { Construct } from 'constructs';
import { invalid, isEmptyList, VendorAccessResource, VendorAccessResourceProps } from './resource';

import { CorsVendorPreset } from './vendors';

export { CorsVendorPreset } from './vendors';

export type CorsMethod = 'GET' | 'PUT' | 'POST' | 'DELETE' | 'HEAD';

/** One S3 CORS rule. */
export interface CorsRule {
  readonly allowedOrigins: string[];
  readonly allowedMethods: CorsMethod[];
  /** @default none */
  readonly allowedHeaders?: string[];
  /** @default none */
  readonly exposeHeaders?: string[];
  /** @default no caching of preflight responses */
  readonly maxAgeSeconds?: number;
}

export interface BucketCorsProps extends VendorAccessResourceProps {
  /** An existing bucket. Changing it replaces the resource. */
  readonly bucket: string;

  /** @default no preset: `rules` is required */
  readonly vendor?: CorsVendorPreset;

  /** Rules owned by this resource. @default the preset's */
  readonly rules?: CorsRule[];
}

/**
 * `Custom::BucketCors`: CORS rules merged into an existing bucket's configuration. Rules
 * owned by this resource get deterministic ids; other rules on the bucket are kept.
 */
export class BucketCors extends VendorAccessResource {
  public static readonly RESOURCE_TYPE = 'Custom::BucketCors';

  /** Ids of the CORS rules this resource owns on the bucket. */
  public readonly ruleIds: string;

  constructor(scope: Construct, id: string, props: BucketCorsProps) {
    if (props.vendor === undefined && isEmptyList(props.rules)) {
      throw invalid(id, 'rules must hold at least one rule without a vendor preset');
    }
    super(scope, id, BucketCors.RESOURCE_TYPE, props, {
      Bucket: props.bucket,
      Vendor: props.vendor,
      Rules: props.rules?.map((rule) => ({
        AllowedOrigins: rule.allowedOrigins,
        AllowedMethods: rule.allowedMethods,
        AllowedHeaders: rule.allowedHeaders,
        ExposeHeaders: rule.exposeHeaders,
        MaxAgeSeconds: rule.maxAgeSeconds,
      })),
    });
    this.ruleIds = this.attribute('RuleIds');
  }
}
