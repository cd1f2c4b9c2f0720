// Generated from the vendor catalog (src/vendors.rs) by `make vendors`;
// tests/vendor_catalog.rs fails when it differs. Do not edit by hand.

/** A vendor preset of `VendorS3Access` and `VendorS3User`: see docs/vendors.md. */
export type VendorPreset = 'lightly' | 'activeloop' | 'kolena';

/** A vendor whose web app needs a CORS rule on the bucket: see docs/vendors.md. */
export type CorsVendorPreset = 'kolena';

/** Presets whose principal each customer gets from the vendor: `trustedPrincipal` is required. */
export const PRESETS_WITHOUT_PRINCIPAL: readonly VendorPreset[] = ['kolena'];
