// Generated from the vendor catalog (src/vendors.rs) by `make vendors`;
// tests/vendor_catalog.rs fails when it differs. Do not edit by hand.

/** A vendor preset of `VendorS3Access` and `VendorS3User`: see docs/vendors.md. */
export type VendorPreset = 'lightly' | 'activeloop' | 'kolena' | 'scale' | 'census' | 'bitmovin' | 'fastlabel' | 'axinom-eu' | 'axinom-us' | 'databricks' | 'segment' | 'snowflake' | 'labelbox' | 'roboflow' | 'dataloop';

/** A vendor whose web app needs a CORS rule on the bucket: see docs/vendors.md. */
export type CorsVendorPreset = 'activeloop' | 'kolena' | 'wandb' | 'segments-ai';

/** A vendor whose guide gives access by bucket policy: see docs/vendors.md. */
export type BucketPolicyVendorPreset = 'v7' | 'wandb' | 'segments-ai';

/** Presets whose principal each customer gets from the vendor: `trustedPrincipal` is required. */
export const PRESETS_WITHOUT_PRINCIPAL: readonly VendorPreset[] = ['kolena', 'snowflake', 'labelbox', 'roboflow', 'dataloop'];

/** Presets whose external id the vendor issues: `externalId` is required. */
export const PRESETS_NEEDING_EXTERNAL_ID: readonly VendorPreset[] = ['scale', 'census', 'fastlabel', 'axinom-eu', 'axinom-us', 'databricks', 'segment', 'snowflake', 'labelbox', 'roboflow'];
