/**
 * OpenTelemetry for every store call: the per-store tracer and instruments, and the hook
 * ResultStore's constructor calls. Why the API is optional and how it is loaded: otel-api.ts.
 */
import {
  CLIENT,
  coreVersion,
  loadOtelApi,
  type OtelApi,
  type OtelAttributes,
  type OtelContext,
  type OtelCounter,
  type OtelHistogram,
  type OtelMeterProvider,
  type OtelSpan,
  type OtelTracer,
  STATUS_ERROR,
  type TelemetryOptions,
} from "./otel-api.js";
import type { ResultStore, StoreOutcome } from "./store.js";
import { errorType, type Operation, TRACED_OPERATIONS } from "./telemetry-operations.js";
import type { BackendTelemetry, ResultBackend } from "./types.js";

const SCOPE = "@resultstore/core";
/** The stable `db.client.operation.duration` buckets the conventions advise, in seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

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
  private readonly version = coreVersion();
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
    this.tracer = (options.tracerProvider ?? api.trace).getTracer(SCOPE, this.version);
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
    const meter = provider.getMeter(SCOPE, this.version);
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
    args: readonly unknown[],
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
