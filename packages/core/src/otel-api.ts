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

/** This package's version, the instrumentation scope's; read once a store is traced. */
export function coreVersion(): string | undefined {
  try {
    return (requireFrom(import.meta.url)("../package.json") as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** SpanKind and SpanStatusCode values (fixed by the specification). */
export const INTERNAL = 0;
export const CLIENT = 2;
const PRODUCER = 3;
const CONSUMER = 4;
export const STATUS_ERROR = 2;

/** The span kinds the messaging helpers use. */
export const SPAN_KIND = { PRODUCER, CONSUMER } as const;
