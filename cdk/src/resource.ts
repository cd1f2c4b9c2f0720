import { CustomResource, RemovalPolicy, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/** Props every vendor-access construct takes. */
export interface VendorAccessResourceProps {
  /**
   * ARN of the vendor-access function, typically `ServiceToken.fromStackExport()`.
   */
  readonly serviceToken: string;

  /**
   * What happens to what the function made when the resource leaves the stack.
   * `RETAIN` keeps the role, user, CORS rules or statements in place.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** A `Custom::*` resource served by the vendor-access function. */
export abstract class VendorAccessResource extends Construct {
  /** The underlying CloudFormation custom resource. */
  public readonly resource: CustomResource;

  protected constructor(
    scope: Construct,
    id: string,
    resourceType: string,
    props: VendorAccessResourceProps,
    properties: Record<string, unknown>,
  ) {
    super(scope, id);
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: props.serviceToken,
      resourceType,
      properties,
      removalPolicy: props.removalPolicy,
    });
  }

  /** An output of the function (`Fn::GetAtt`). */
  protected attribute(name: string): string {
    return this.resource.getAttString(name);
  }
}

/** Thrown at synth time for props the function would reject anyway. */
export function invalid(id: string, message: string): Error {
  return new Error(`${id}: ${message}`);
}

/** True when `list` is a literal empty array (a token list is taken on trust). */
export function isEmptyList(list: readonly unknown[] | undefined): boolean {
  return list === undefined || (!Token.isUnresolved(list) && list.length === 0);
}

/** Tags in CloudFormation's `[{Key, Value}]` form. */
export function renderTags(tags: Record<string, string> | undefined): { Key: string; Value: string }[] | undefined {
  if (tags === undefined) {
    return undefined;
  }
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}
