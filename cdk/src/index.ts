export { ServiceToken } from './service-token';
export { VendorAccessResource, VendorAccessResourceProps } from './resource';
export { AccessLevel, KmsAccessMode, Location, S3AccessProps } from './s3-access';
export { VendorPreset, VendorS3Access, VendorS3AccessProps } from './vendor-s3-access';
export { SecretStorage, VendorS3User, VendorS3UserProps } from './vendor-s3-user';
export { BucketCors, BucketCorsProps, CorsMethod, CorsRule, CorsVendorPreset } from './bucket-cors';
export { BucketPolicyStatements, BucketPolicyStatementsProps, BucketPolicyVendorPreset, NetworkRestriction } from './bucket-policy-statements';
export { Architecture, LogLevel, VendorAccessFunction, VendorAccessFunctionProps } from './function';
