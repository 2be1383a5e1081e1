/**
 * Celery's task message, protocol 2, in the envelope kombu's Redis transport puts on the queue's list.
 * Field by field what Celery 5.6's `app.send_task` publishes there (celery/app/amqp.py `as_task_v2`,
 * kombu/transport/virtual/base.py `prepare_message` and `_inplace_augment_message`); the test
 * compares both messages on a real Redis.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { encodeJson } from "@resultstore/core";
import { formatCeleryDate } from "@resultstore/core/backend";

export interface TaskMessageFields {
  taskId: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  queue: string;
  eta?: Date;
  expires?: Date;
  groupId?: string;
  parentId?: string;
  rootId?: string;
  /**
   * Trace context headers (`traceparent`, `tracestate`, …), added to the message's headers where
   * Celery's OpenTelemetry instrumentation reads them: the worker exposes each message header as
   * an attribute of `task.request`, and the instrumentation extracts the context from those.
   */
  traceHeaders?: Record<string, string>;
}

/** Celery's `argsrepr_maxsize` / `kwargsrepr_maxsize`. */
const REPR_MAX = 1024;

/** The JSON text to LPUSH onto the list named `fields.queue`. */
export function celeryMessage(fields: TaskMessageFields): string {
  const { taskId, name, args, kwargs, queue } = fields;
  // The body is serialized by Celery's JSON serializer, then base64-encoded by the transport.
  const body = encodeJson([
    args,
    kwargs,
    { callbacks: null, errbacks: null, chain: null, chord: null },
  ]);
  const headers = {
    lang: "js",
    task: name,
    id: taskId,
    shadow: null,
    eta: fields.eta ? formatCeleryDate(fields.eta) : null,
    expires: fields.expires ? formatCeleryDate(fields.expires) : null,
    group: fields.groupId ?? null,
    group_index: null,
    retries: 0,
    timelimit: [null, null],
    root_id: fields.rootId ?? taskId,
    parent_id: fields.parentId ?? null,
    argsrepr: truncate(pyRepr(args)),
    kwargsrepr: truncate(pyRepr(kwargs)),
    origin: `node${process.pid}@${hostname()}`,
    ignore_result: false,
    replaced_task_nesting: 0,
    stamped_headers: null,
    stamps: {},
  };
  // Never one of Celery's own headers, whatever a propagator names its fields.
  const trace = Object.entries(fields.traceHeaders ?? {}).filter(([key]) => !(key in headers));
  return encodeJson({
    body: Buffer.from(body, "utf8").toString("base64"),
    "content-encoding": "utf-8",
    "content-type": "application/json",
    headers: { ...headers, ...Object.fromEntries(trace) },
    properties: {
      correlation_id: taskId,
      // Celery's RPC result backend replies there; the database backends never read it.
      reply_to: "",
      delivery_mode: 2,
      delivery_info: { exchange: "", routing_key: queue },
      priority: 0,
      body_encoding: "base64",
      delivery_tag: randomUUID(),
    },
  });
}

/** Python's `repr` of a JSON value, for the `argsrepr`/`kwargsrepr` headers (logs and monitors only). */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number")
    return Number.isFinite(value) ? String(value) : value > 0 ? "inf" : value < 0 ? "-inf" : "nan";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return pyString(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    return `{${entries.map(([k, v]) => `${pyString(k)}: ${pyRepr(v)}`).join(", ")}}`;
  }
  return pyString(String(value));
}

/** Python's str repr: single quotes unless the text has one and no double quote. */
function pyString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (ch === "\\" || ch === quote) out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + quote;
}

const truncate = (text: string) =>
  text.length > REPR_MAX ? `${text.slice(0, REPR_MAX)}...` : text;
