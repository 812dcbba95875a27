import type { Telemetry } from 'bullmq';

/** The configuration's OpenTelemetry switches (the standard variables, see `observabilitySchema`). */
export interface TelemetrySettings {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_TRACES_EXPORTER?: string | undefined;
  OTEL_SERVICE_NAME?: string | undefined;
}

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** What a handler's context offers the job-start hook (`JobContext` of @bullpen/jobs, structurally). */
interface JobStartContext {
  readonly attempt: number;
  readonly job: { idempotencyKey?: string; requestId?: string; replayOf?: string };
}

/** Tracing, started: everything an app hands to the framework, its logger and Fastify. */
export interface AppTelemetry {
  /** BullMQ's telemetry (`bullmq-otel`), for `telemetry` of producers, workers and the job admin. */
  readonly bullmq: Telemetry;
  /** For `loggerOptions({ mixin })`: the active span's `trace_id` and `span_id` on every line. */
  readonly logMixin: () => Record<string, unknown>;
  /**
   * For `WorkerOptions.onJobStart`: sets the attempt, the idempotency key, the request id and `more(payload)`
   * on the attempt's span (BullMQ sets queue, job name and job id).
   */
  jobStartHook(more?: (payload: unknown) => SpanAttributes): (payload: unknown, ctx: JobStartContext) => void;
  /** Sets attributes on the active span (a route's, say); a no-op outside one. */
  annotate(attributes: SpanAttributes): void;
  /** Exports what is buffered and stops (at most `timeoutMs`, default 5 s). */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** Whether the configuration asks for traces: an OTLP endpoint, or an exporter other than `none`. */
export function tracingRequested(s: TelemetrySettings): boolean {
  const exporter = s.OTEL_TRACES_EXPORTER?.trim();
  if (exporter === 'none') return false;
  return Boolean(s.OTEL_EXPORTER_OTLP_ENDPOINT || exporter);
}

/** Routes that would fill traces with polling: scrapes and health checks. */
const QUIET_PATHS = /^\/(healthz|readyz|metrics)(\/|\?|$)/;

/**
 * Starts the OpenTelemetry Node SDK when the configuration asks for traces, and resolves to undefined (nothing
 * loaded, nothing started) when it does not. The SDK reads the standard OTEL_* variables itself (exporter,
 * protocol, sampler, batch delays); the service name defaults to `serviceName` when OTEL_SERVICE_NAME is unset.
 * Call it before Fastify is created: `fastify: true` registers `@fastify/otel` on every instance made after.
 */
export async function startTelemetry(opts: {
  settings: TelemetrySettings;
  serviceName: string;
  /** The service's version, on BullMQ's tracer. */
  version?: string;
  /** Instrument Fastify (api, dashboard). */
  fastify?: boolean;
}): Promise<AppTelemetry | undefined> {
  if (!tracingRequested(opts.settings)) return undefined;
  // Loaded only when tracing is on: a process without it never pays for the SDK.
  const [{ NodeSDK }, api, { BullMQOtel }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/api'),
    import('bullmq-otel'),
  ]);
  const instrumentations = [];
  if (opts.fastify) {
    const { FastifyOtelInstrumentation } = await import('@fastify/otel');
    instrumentations.push(
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        // One request span and one handler span per request; hook spans would outnumber them.
        instrumentHooks: false,
        ignorePaths: (route) => QUIET_PATHS.test(route.url),
      }),
    );
  }
  const sdk = new NodeSDK({
    ...(opts.settings.OTEL_SERVICE_NAME ? {} : { serviceName: opts.serviceName }),
    // @fastify/otel is built on an older @opentelemetry/instrumentation than the SDK; the interface is the same.
    instrumentations: instrumentations as never,
  });
  sdk.start();

  const annotate = (attributes: SpanAttributes) => {
    const span = api.trace.getActiveSpan();
    if (!span) return;
    for (const [k, v] of Object.entries(attributes)) if (v !== undefined) span.setAttribute(k, v);
  };

  return {
    bullmq: new BullMQOtel({ tracerName: opts.serviceName, ...(opts.version ? { version: opts.version } : {}) }),
    logMixin() {
      const span = api.trace.getActiveSpan();
      // A fresh object each time: pino merges the line's own fields into it.
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
    jobStartHook(more) {
      return (payload, ctx) => {
        annotate({
          'bullpen.job.attempt': ctx.attempt,
          'bullpen.job.idempotency_key': ctx.job.idempotencyKey,
          'bullpen.request_id': ctx.job.requestId,
          'bullpen.job.replay_of': ctx.job.replayOf,
          ...more?.(payload),
        });
      };
    },
    annotate,
    async shutdown(timeoutMs = 5000) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        sdk.shutdown().catch(() => {}),
        new Promise<void>((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
