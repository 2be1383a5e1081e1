/**
 * OpenTelemetry traces and metrics for every store call, with `@opentelemetry/api` as an optional
 * peer dependency.
 *
 * Why this shape: a library that is "natively instrumented" uses only the API package and gets
 * no-op behaviour until the application registers an SDK; the application decides everything else
 * (exporters, sampling, views). The API keeps its registered providers on `globalThis` under a
 * versioned symbol, so every copy of the package in a process (its CommonJS and ESM builds
 * included) sees the same providers, propagator and context manager. Core therefore loads the API
 * synchronously with `createRequire` the first time a store is built (a dynamic `import()` would
 * make the constructor or every call wait for it, and a bundler would try to resolve its literal
 * name). When it is not installed, nothing is wrapped and a store runs exactly the code it runs
 * without telemetry. A bundle, where `createRequire` finds nothing, passes the API in:
 * `{ telemetry: { api: await import("@opentelemetry/api") } }` — the same rule as `backends`.
 *
 * Core's published types never name the package: the few members used are declared here
 * structurally, so a project without it still type-checks.
 */
// Aliased: the banner bundlers are told to add for CommonJS drivers declares `createRequire`.
import { createRequire as requireFrom } from "node:module";
import { encodeJson } from "./codec.js";
import type { ChordPart, ChordProgress, ResultStore, StoreOutcome, TaskMeta } from "./store.js";
import type { BackendTelemetry, ResultBackend } from "./types.js";

// ---------------------------------------------------------------------------------------------
// The part of @opentelemetry/api core uses, declared structurally.

/** An OpenTelemetry `Context` (opaque here). */
export type OtelContext = object;
/** Attribute values as the API accepts them. */
export type OtelAttributes = Record<string, string | number | boolean | undefined>;

/** The members of an OpenTelemetry `Span` core calls. */
export interface OtelSpan {
  /** False for a no-op or unsampled span: attributes need not be computed then. */
  isRecording(): boolean;
  /** Sets one attribute. */
  setAttribute(key: string, value: string | number | boolean): unknown;
  /** Sets several attributes. */
  setAttributes(attributes: OtelAttributes): unknown;
  /** Sets the status (2 = ERROR). */
  setStatus(status: { code: number; message?: string }): unknown;
  /** Adds an `exception` event. */
  recordException(exception: Error | string): unknown;
  /** Ends the span. */
  end(): void;
}

/** The members of an OpenTelemetry `Tracer` core calls. */
export interface OtelTracer {
  /** Starts a span as a child of `context`'s span. */
  startSpan(
    name: string,
    options?: { kind?: number; attributes?: OtelAttributes },
    context?: OtelContext,
  ): OtelSpan;
}

/** An OpenTelemetry `Counter`. */
export interface OtelCounter {
  /** Adds `value` to the series of `attributes`. */
  add(value: number, attributes?: OtelAttributes): void;
}
/** An OpenTelemetry `Histogram`. */
export interface OtelHistogram {
  /** Records one measurement in the series of `attributes`. */
  record(value: number, attributes?: OtelAttributes): void;
}
/** The members of an OpenTelemetry `Meter` core calls. */
export interface OtelMeter {
  /** A histogram instrument. */
  createHistogram(
    name: string,
    options?: {
      description?: string;
      unit?: string;
      advice?: { explicitBucketBoundaries?: number[] };
    },
  ): OtelHistogram;
  /** A monotonic counter instrument. */
  createCounter(name: string, options?: { description?: string; unit?: string }): OtelCounter;
}

/** A `TracerProvider`, e.g. the SDK's, for tracing one store apart from the global provider. */
export interface OtelTracerProvider {
  /** The tracer of an instrumentation scope. */
  getTracer(name: string, version?: string): OtelTracer;
}
/** A `MeterProvider`, e.g. the SDK's, for one store's metrics apart from the global provider. */
export interface OtelMeterProvider {
  /** The meter of an instrumentation scope. */
  getMeter(name: string, version?: string): OtelMeter;
}

/** The part of `@opentelemetry/api`'s module core uses; `import * as api from "@opentelemetry/api"` fits. */
export interface OtelApi {
  /** `trace`: the global tracer provider (a proxy) and span-in-context helpers. */
  trace: {
    /** A tracer from the global provider. */
    getTracer(name: string, version?: string): OtelTracer;
    /** `context` with `span` as its active span. */
    // biome-ignore lint/suspicious/noExplicitAny: the API's Context is opaque; any keeps its own type assignable
    setSpan(context: any, span: any): any;
  };
  /** `metrics`: the global meter provider. */
  metrics: {
    /** The registered provider, or the API's no-op one. */
    getMeterProvider(): OtelMeterProvider;
  };
  /** `context`: the active context and running code in another one. */
  context: {
    /** The active context. */
    // biome-ignore lint/suspicious/noExplicitAny: as above
    active(): any;
    /** Runs `fn` with `context` active. @typeParam F - the function run */
    // biome-ignore lint/suspicious/noExplicitAny: as above
    with<F extends (...args: any[]) => any>(context: any, fn: F): ReturnType<F>;
  };
  /** `propagation`: the global propagator (W3C trace context with the usual SDK setup). */
  propagation: {
    /** Writes `context`'s trace context into `carrier` (message headers). */
    // biome-ignore lint/suspicious/noExplicitAny: as above
    inject(context: any, carrier: any): void;
    /** The context `carrier` carries, on top of `context`. */
    // biome-ignore lint/suspicious/noExplicitAny: as above
    extract(context: any, carrier: any): any;
  };
  /** The API's no-op meter, which a meter from an unregistered provider is. */
  createNoopMeter(): unknown;
}

/** `createStore`'s and `ResultStore`'s `telemetry` option. */
export interface TelemetryOptions {
  /**
   * The API module, for programs where core cannot load it by name (bundles):
   * `import * as api from "@opentelemetry/api"`. @default loaded with `require` when installed
   */
  api?: OtelApi;
  /** Trace this store with this provider instead of the global one. */
  tracerProvider?: OtelTracerProvider;
  /** Record this store's metrics with this provider instead of the global one. */
  meterProvider?: OtelMeterProvider;
  /**
   * Put results and metadata on spans (`resultstore.task.result`, `resultstore.task.metadata`,
   * Celery JSON cut at 4 KiB). They may hold personal data, so they are left out by default.
   * @default false
   */
  captureValues?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Loading the API

let loaded: OtelApi | null | undefined;

/** `@opentelemetry/api` when it can be required from here, else null; looked up once per process. */
export function loadOtelApi(): OtelApi | null {
  if (loaded === undefined) {
    try {
      loaded = requireFrom(import.meta.url)("@opentelemetry/api") as OtelApi;
    } catch {
      loaded = null; // not installed, or a bundle without `require`: telemetry stays off
    }
  }
  return loaded;
}

// ---------------------------------------------------------------------------------------------
// Names

const SCOPE = "@resultstore/core";
/** The instrumentation scope's version: this package's. */
const SCOPE_VERSION = (() => {
  try {
    return (requireFrom(import.meta.url)("../package.json") as { version: string }).version;
  } catch {
    return undefined;
  }
})();
/** SpanKind and SpanStatusCode values (fixed by the specification). */
const INTERNAL = 0;
const CLIENT = 2;
const PRODUCER = 3;
const CONSUMER = 4;
const STATUS_ERROR = 2;
/** The stable `db.client.operation.duration` buckets the conventions advise, in seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];
const VALUE_LIMIT = 4096;

/** The span kinds the messaging helpers use. */
export const SPAN_KIND = { PRODUCER, CONSUMER } as const;

type Args = readonly unknown[];

/** How one ResultStore method is recorded. */
interface Operation {
  /** CLIENT: one logical database call; INTERNAL: made of other traced calls (not in the duration metric). */
  kind: typeof CLIENT | typeof INTERNAL;
  /** Which `BackendTelemetry.collection` entry the call touches. */
  records?: "tasks" | "groups" | "counters";
  /** Attributes known before the call, from its arguments. */
  before(args: Args, values: boolean): OtelAttributes;
  /** Attributes of its answer. */
  after?(result: unknown, args: Args, values: boolean): OtelAttributes;
}

const taskId = (args: Args): OtelAttributes => ({ "resultstore.task.id": args[0] as string });
const groupId = (args: Args): OtelAttributes => ({ "resultstore.group.id": args[0] as string });
const metaAfter = (result: unknown, _args: Args, values: boolean): OtelAttributes => {
  const meta = result as TaskMeta;
  return {
    "resultstore.task.state": meta.status,
    ...(values ? valueAttributes(meta.result, meta.metadata) : {}),
  };
};

/**
 * Every traced method of ResultStore. `mark*` are not listed: they call `storeResult`. The
 * composite calls (`waitFor` polls `getMeta`; `onChordPartReturn` is two `incr` and a counter
 * removal) are INTERNAL spans around their CLIENT children, so the duration histogram measures
 * database calls only, never a 30-second wait.
 */
export const TRACED_OPERATIONS: Readonly<Record<string, Operation>> = {
  storeResult: {
    kind: CLIENT,
    records: "tasks",
    before: (args, values) => ({
      ...taskId(args),
      "resultstore.task.state": args[2] as string,
      ...(values
        ? valueAttributes(args[1], (args[3] as { metadata?: unknown } | undefined)?.metadata)
        : {}),
    }),
    after: (result) => ({ "resultstore.write.applied": (result as StoreOutcome).applied }),
  },
  getMeta: { kind: CLIENT, records: "tasks", before: taskId, after: metaAfter },
  getMany: {
    kind: CLIENT,
    records: "tasks",
    before: (args) => {
      const size = (args[0] as readonly string[]).length;
      return size >= 2 ? { "db.operation.batch.size": size } : {};
    },
  },
  waitFor: { kind: INTERNAL, records: "tasks", before: taskId, after: metaAfter },
  forget: { kind: CLIENT, records: "tasks", before: taskId },
  incr: {
    kind: CLIENT,
    records: "counters",
    before: (args) => ({ "resultstore.counter.key": args[0] as string }),
    after: (result) => ({ "resultstore.counter.value": result as number }),
  },
  saveGroup: {
    kind: CLIENT,
    records: "groups",
    before: (args) => ({
      ...groupId(args),
      "resultstore.group.size": (args[1] as readonly string[]).length,
    }),
  },
  restoreGroup: { kind: CLIENT, records: "groups", before: groupId },
  deleteGroup: { kind: CLIENT, records: "groups", before: groupId },
  onChordPartReturn: {
    kind: INTERNAL,
    records: "counters",
    before: (args) => {
      const part = args[0] as ChordPart;
      return {
        "resultstore.group.id": part.groupId,
        "resultstore.task.id": part.taskId,
        "resultstore.chord.size": part.size,
      };
    },
    after: (result) => {
      const progress = result as ChordProgress;
      return {
        "resultstore.chord.count": progress.count,
        "resultstore.chord.complete": progress.complete,
        "resultstore.chord.duplicate": progress.duplicate,
      };
    },
  },
  cleanup: {
    kind: CLIENT,
    before: () => ({}),
    after: (result) => ({ "resultstore.cleanup.removed": result as number }),
  },
};

function valueAttributes(result: unknown, metadata: unknown): OtelAttributes {
  return {
    "resultstore.task.result": clip(result),
    "resultstore.task.metadata": metadata === undefined ? undefined : clip(metadata),
  };
}

function clip(value: unknown): string | undefined {
  try {
    const text = encodeJson(value instanceof Error ? String(value) : (value ?? null));
    return text.length > VALUE_LIMIT ? `${text.slice(0, VALUE_LIMIT)}...` : text;
  } catch {
    return undefined; // a value the codec refuses is the call's error, reported there
  }
}

/** `error.type`: the error's class name (ours are `BackendConnectionError`, `WaitTimeoutError`, …). */
function errorType(error: unknown): string {
  return error instanceof Error && error.name ? error.name : "_OTHER";
}

// ---------------------------------------------------------------------------------------------
// One store's instruments

interface Start {
  spanName: string;
  kind: number;
  attributes: OtelAttributes;
}

interface Instruments {
  provider: OtelMeterProvider;
  /** Null while the provider is the API's no-op one: nothing is timed then. */
  duration: OtelHistogram | null;
  transitions: OtelCounter | null;
  refused: OtelCounter | null;
}

/** The telemetry of one store: its tracer, its meter, and what it knows about its backend. */
export class StoreTelemetry {
  /** The API module this store's telemetry uses. */
  readonly api: OtelApi;
  private readonly tracer: OtelTracer;
  private readonly options: TelemetryOptions;
  private readonly system: string;
  private readonly described: BackendTelemetry | undefined;
  /** Start options per operation: built once, since they never change for a store. */
  private readonly starts = new Map<string, Start>();
  private instruments: Instruments | undefined;

  constructor(api: OtelApi, backend: ResultBackend, options: TelemetryOptions) {
    this.api = api;
    this.options = options;
    this.described = backend.telemetry;
    this.system = backend.telemetry?.system ?? backend.name;
    // The global tracer is a proxy: a provider registered after this store exists is still used.
    this.tracer = (options.tracerProvider ?? api.trace).getTracer(SCOPE, SCOPE_VERSION);
  }

  /** The span name and stable database attributes of `operation`, built once. */
  private start(name: string, operation: Operation): Start {
    let start = this.starts.get(name);
    if (!start) {
      const d = this.described;
      const collection =
        typeof d?.collection === "string"
          ? d.collection
          : operation.records && d?.collection?.[operation.records];
      start = {
        // The conventions' `{db.operation.name} {target}`, the target being the collection.
        spanName: collection ? `${name} ${collection}` : name,
        kind: operation.kind,
        attributes: dropUndefined({
          "db.system.name": this.system,
          "db.operation.name": name,
          "db.collection.name": collection,
          "db.namespace": d?.namespace,
          "server.address": d?.serverAddress,
          "server.port": d?.serverPort,
        }),
      };
      this.starts.set(name, start);
    }
    return start;
  }

  /**
   * The meter's instruments, made again when the global provider changed (the API has no proxy
   * for meters: a meter taken before the SDK started would stay a no-op forever).
   */
  private meters(): Instruments {
    const provider = this.options.meterProvider ?? this.api.metrics.getMeterProvider();
    if (this.instruments?.provider === provider) return this.instruments;
    const meter = provider.getMeter(SCOPE, SCOPE_VERSION);
    const live = meter !== this.api.createNoopMeter();
    this.instruments = {
      provider,
      duration: live
        ? meter.createHistogram("db.client.operation.duration", {
            description: "Duration of database client operations.",
            unit: "s",
            advice: { explicitBucketBoundaries: DURATION_BUCKETS },
          })
        : null,
      transitions: live
        ? meter.createCounter("resultstore.task.transitions", {
            description:
              "Task state writes, by incoming state and whether the state rules applied them.",
            unit: "{write}",
          })
        : null,
      refused: live
        ? meter.createCounter("resultstore.write.refused", {
            description: "Task state writes the state rules refused (nothing changed).",
            unit: "{write}",
          })
        : null,
    };
    return this.instruments;
  }

  /**
   * Runs `method`, the ResultStore method `name` called with `args`, as a traced operation (see
   * `TRACED_OPERATIONS`); with no provider registered it just calls it.
   */
  run<T>(name: string, args: readonly unknown[], method: () => Promise<T>): Promise<T> {
    const operation = TRACED_OPERATIONS[name] as Operation;
    const start = this.start(name, operation);
    const span = this.tracer.startSpan(start.spanName, start, this.api.context.active());
    const meters = this.meters();
    if (!span.isRecording() && !meters.duration) {
      span.end();
      return method();
    }
    return this.measure(name, operation, args, start.attributes, span, meters, method);
  }

  private async measure<T>(
    name: string,
    operation: Operation,
    args: Args,
    base: OtelAttributes,
    span: OtelSpan,
    meters: Instruments,
    method: () => Promise<T>,
  ): Promise<T> {
    const values = this.options.captureValues === true;
    const recording = span.isRecording();
    if (recording) span.setAttributes(dropUndefined(operation.before(args, values)));
    const began = performance.now();
    let errorName: string | undefined;
    try {
      const context = recording
        ? this.api.trace.setSpan(this.api.context.active(), span)
        : this.api.context.active();
      const result = await this.api.context.with(context, method);
      if (recording && operation.after)
        span.setAttributes(dropUndefined(operation.after(result, args, values)));
      if (name === "storeResult") this.countWrite(meters, result as StoreOutcome);
      return result;
    } catch (error) {
      errorName = errorType(error);
      if (recording) {
        span.setAttribute("error.type", errorName);
        span.setStatus({ code: STATUS_ERROR, message: (error as Error)?.message });
        span.recordException(error instanceof Error ? error : String(error));
      }
      throw error;
    } finally {
      span.end();
      if (meters.duration && operation.kind === CLIENT) {
        const attributes = errorName ? { ...base, "error.type": errorName } : base;
        meters.duration.record((performance.now() - began) / 1000, attributes);
      }
    }
  }

  private countWrite(meters: Instruments, outcome: StoreOutcome): void {
    const attributes = {
      "db.system.name": this.system,
      "resultstore.task.state": outcome.status,
      "resultstore.write.applied": outcome.applied,
    };
    meters.transitions?.add(1, attributes);
    if (!outcome.applied)
      meters.refused?.add(1, {
        "db.system.name": this.system,
        "resultstore.task.state": outcome.status,
      });
  }

  /**
   * Runs `fn` in a span of its own (the messaging helpers' PRODUCER and CONSUMER spans), as a
   * child of `parent` when given (a context extracted from a message) or of the active context.
   */
  async span<T>(
    name: string,
    kind: number,
    attributes: OtelAttributes,
    fn: () => Promise<T>,
    parent?: OtelContext,
  ): Promise<T> {
    const span = this.tracer.startSpan(
      name,
      { kind, attributes: dropUndefined(attributes) },
      parent ?? this.api.context.active(),
    );
    if (!span.isRecording()) {
      span.end();
      return parent ? this.api.context.with(parent, fn) : fn();
    }
    try {
      return await this.api.context.with(
        this.api.trace.setSpan(parent ?? this.api.context.active(), span),
        fn,
      );
    } catch (error) {
      span.setAttribute("error.type", errorType(error));
      span.setStatus({ code: STATUS_ERROR, message: (error as Error)?.message });
      throw error;
    } finally {
      span.end();
    }
  }

  /** The active trace context as message headers (W3C `traceparent`/`tracestate` with the usual propagator). */
  inject(): Record<string, string> {
    const carrier: Record<string, string> = {};
    this.api.propagation.inject(this.api.context.active(), carrier);
    return carrier;
  }

  /** The context a message's headers carry, on top of the active one. */
  extract(carrier: Record<string, unknown>): OtelContext {
    return this.api.propagation.extract(this.api.context.active(), carrier);
  }
}

/**
 * `server.address` and `server.port` of an endpoint as backends are given it: a URL
 * (`https://host:443/`), `host:port`, or a host; the port defaults to `defaultPort`. For
 * `BackendTelemetry`.
 */
export function endpointOf(
  endpoint: string | undefined,
  defaultPort?: number,
): Pick<BackendTelemetry, "serverAddress" | "serverPort"> {
  if (!endpoint) return {};
  try {
    const url = new URL(endpoint.includes("://") ? endpoint : `tcp://${endpoint}`);
    const port = url.port ? Number(url.port) : defaultPort;
    const address = url.hostname.replace(/^\[(.*)\]$/, "$1"); // an IPv6 literal without brackets
    return port === undefined
      ? { serverAddress: address }
      : { serverAddress: address, serverPort: port };
  } catch {
    return {}; // informational only: an endpoint we cannot read is left out
  }
}

function dropUndefined(attributes: OtelAttributes): OtelAttributes {
  for (const key of Object.keys(attributes)) {
    if (attributes[key] === undefined) delete attributes[key];
  }
  return attributes;
}

// ---------------------------------------------------------------------------------------------
// The hook ResultStore calls

const byStore = new WeakMap<ResultStore, StoreTelemetry>();

/**
 * Traces `store` when the API is available and `options` is not `false`: each traced method
 * becomes an own property that runs the prototype's method inside {@link StoreTelemetry.run}.
 * Without the API nothing is touched, so an untraced store pays nothing.
 */
export function instrumentStore(
  store: ResultStore,
  options: TelemetryOptions | false | undefined,
): void {
  if (options === false) return;
  const api = options?.api ?? loadOtelApi();
  if (!api) return;
  const telemetry = new StoreTelemetry(api, store.backend, options ?? {});
  byStore.set(store, telemetry);
  const methods = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of Object.keys(TRACED_OPERATIONS)) {
    const method = methods[name] as (...args: unknown[]) => Promise<unknown>;
    methods[name] = (...args: unknown[]) =>
      telemetry.run(name, args, () => method.apply(store, args));
  }
}

/** The store's telemetry, or null when it is not traced (no API installed, or `telemetry: false`). */
export function telemetryOf(store: ResultStore): StoreTelemetry | null {
  return byStore.get(store) ?? null;
}
