/**
 * `@resultstore/conformance/telemetry`: the OpenTelemetry SDK with in-memory exporters, registered
 * globally the way an application's SDK setup does it, for tests that assert spans and metrics.
 * Its SDK packages are optional peers: only tests that import this subpath need them.
 */
import { context, metrics, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";

/** What a test reads back from the registered SDK. */
export interface OtelHarness {
  /** Every span ended since the last `reset`. */
  spans(): ReadableSpan[];
  /** Every metric recorded since the providers were registered (cumulative), by name. */
  metrics(): Promise<Map<string, MetricData>>;
  reset(): void;
  /** Unregisters everything, as `sdk.shutdown()` would. */
  shutdown(): Promise<void>;
}

/**
 * Registers a tracer provider, a meter provider, the async-hooks context manager and the W3C
 * propagator globally, each writing to memory.
 */
export function registerOtel(): OtelHarness {
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(spanExporter)],
  });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports only when asked (forceFlush): the interval is longer than any test.
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    spans: () => spanExporter.getFinishedSpans(),
    async metrics() {
      metricExporter.reset();
      await reader.forceFlush();
      const byName = new Map<string, MetricData>();
      for (const resource of metricExporter.getMetrics())
        for (const scope of resource.scopeMetrics)
          for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
      return byName;
    },
    reset: () => spanExporter.reset(),
    async shutdown() {
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}
