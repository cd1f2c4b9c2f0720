import { Fn } from 'aws-cdk-lib';

/** Where the constructs find the vendor-access function. */
export class ServiceToken {
  /**
   * The function ARN exported by the vendor-access stack (`template.yaml`) as
   * `<stackName>-ServiceToken`: `Fn::ImportValue`, so the consuming stack must be in the
   * same account and region, and the vendor-access stack cannot be deleted while it is imported.
   */
  public static fromStackExport(stackName: string = 'vendor-access'): string {
    return Fn.importValue(`${stackName}-ServiceToken`);
  }

  private constructor() {}
}
