/**
 * Item ids as Celery's DynamoDB backend spells them. Celery builds keys as bytes and its DynamoDB
 * backend passes `str(key)` to boto3, so the `id` attribute holds Python's bytes repr:
 * `b'celery-task-meta-<id>'`. We reproduce that repr exactly (quotes, escapes, non-ASCII bytes)
 * so both sides address the same item for any id core accepts.
 */
import {
  celeryKeyPrefix,
  counterKey,
  GROUP_KEY_PREFIX,
  setKey,
  TASK_KEY_PREFIX,
} from "@resultstore/core/backend";
import type { DynamoDBKeyFormat } from "./types.js";

/** Python's `repr(bytes)` of the UTF-8 encoding of `text`. */
export function pythonBytesRepr(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  // Python picks double quotes only when the bytes hold a single quote and no double quote.
  const quote = bytes.includes(0x27) && !bytes.includes(0x22) ? '"' : "'";
  let out = `b${quote}`;
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    if (char === quote || char === "\\") out += `\\${char}`;
    else if (char === "\t") out += "\\t";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    else out += char;
  }
  return `${out}${quote}`;
}

/** Builds the `id` attribute values for tasks, groups, counters and sets. */
export class KeyBuilder {
  private readonly prefix: string;

  constructor(
    private readonly format: DynamoDBKeyFormat,
    keyPrefix?: string,
  ) {
    this.prefix = celeryKeyPrefix(keyPrefix);
  }

  task(taskId: string): string {
    return this.spell(`${this.prefix}${TASK_KEY_PREFIX}${taskId}`);
  }

  group(groupId: string): string {
    return this.spell(`${this.prefix}${GROUP_KEY_PREFIX}${groupId}`);
  }

  /**
   * Core passes whole counter keys, e.g. Celery's `chord-unlock-<gid>`, kept as they are, except a
   * key that would spell a task's or group's id (`celery-task-meta-…`): core's `counterKey` moves
   * it to `resultstore-counter-<key>`, so `incr` never touches a task item.
   */
  counter(key: string): string {
    return this.spell(`${this.prefix}${counterKey(key)}`);
  }

  /** Sets (`addToSet`) in their own key space: `resultstore-set-<key>`. */
  set(key: string): string {
    return this.spell(`${this.prefix}${setKey(key)}`);
  }

  private spell(key: string): string {
    return this.format === "celery" ? pythonBytesRepr(key) : key;
  }
}
