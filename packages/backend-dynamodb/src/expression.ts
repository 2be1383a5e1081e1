/** Placeholders for every name and value: reserved words and metadata keys never reach the text. */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";

export class Expression {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttributeValue> = {};
  private readonly nameSlots = new Map<string, string>();

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
    const slot = `:v${Object.keys(this.values).length}`;
    this.values[slot] = value;
    return slot;
  }

  /** `attribute_not_exists(#ttl) OR #ttl > :now`: the item has no expiry or it has not passed. */
  live(ttlAttribute: string, now: AttributeValue): string {
    const ttl = this.name(ttlAttribute);
    return `(attribute_not_exists(${ttl}) OR ${ttl} > ${this.value(now)})`;
  }

  /** `#ttl <= :now`: the item has an expiry and it has passed (false when there is none). */
  expired(ttlAttribute: string, now: AttributeValue): string {
    return `${this.name(ttlAttribute)} <= ${this.value(now)}`;
  }

  /** The placeholders, for a command's input (every expression we build has names and values). */
  placeholders() {
    return { ExpressionAttributeNames: this.names, ExpressionAttributeValues: this.values };
  }
}
