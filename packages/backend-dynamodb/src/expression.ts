/**
 * Builds DynamoDB expressions with placeholders for every name and value, so attribute names that
 * are reserved words (`name`, `status`, `ttl`, `timestamp`…) or come from metadata keys never
 * reach the expression text itself.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";

/** DynamoDB's limit on one expression string. */
export const MAX_EXPRESSION_BYTES = 4096;

export class Expression {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttributeValue> = {};
  private readonly nameSlots = new Map<string, string>();
  private valueCount = 0;

  /** The placeholder for attribute `attribute` (one per distinct name). */
  name(attribute: string): string {
    let slot = this.nameSlots.get(attribute);
    if (!slot) {
      slot = `#n${this.nameSlots.size}`;
      this.nameSlots.set(attribute, slot);
      this.names[slot] = attribute;
    }
    return slot;
  }

  /** A fresh placeholder holding `value`. */
  value(value: AttributeValue): string {
    const slot = `:v${this.valueCount++}`;
    this.values[slot] = value;
    return slot;
  }

  /** `SET a = :x, b = :y` for `attributes`, then `REMOVE …` for `remove`. */
  update(attributes: Record<string, AttributeValue>, remove: readonly string[] = []): string {
    const sets = Object.entries(attributes).map(
      ([attr, value]) => `${this.name(attr)} = ${this.value(value)}`,
    );
    const parts = [];
    if (sets.length > 0) parts.push(`SET ${sets.join(", ")}`);
    if (remove.length > 0) parts.push(`REMOVE ${remove.map((attr) => this.name(attr)).join(", ")}`);
    return parts.join(" ");
  }

  /** `attribute_not_exists(#ttl) OR #ttl > :now`: the item has no expiry or it has not passed. */
  live(ttlAttribute: string, nowSeconds: AttributeValue): string {
    const ttl = this.name(ttlAttribute);
    return `(attribute_not_exists(${ttl}) OR ${ttl} > ${this.value(nowSeconds)})`;
  }

  /** `#ttl <= :now`: the item has an expiry and it has passed (false when there is none). */
  expired(ttlAttribute: string, nowSeconds: AttributeValue): string {
    return `${this.name(ttlAttribute)} <= ${this.value(nowSeconds)}`;
  }

  /** The placeholders, for a command's input (DynamoDB rejects empty maps). */
  placeholders(): {
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: Record<string, AttributeValue>;
  } {
    return {
      ...(Object.keys(this.names).length > 0 ? { ExpressionAttributeNames: this.names } : {}),
      ...(Object.keys(this.values).length > 0 ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}
