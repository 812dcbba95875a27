import { describe, expect, it } from 'vitest';
import { startTelemetry, tracingRequested } from '../src/index.ts';

describe('tracingRequested', () => {
  it('is on with an OTLP endpoint or an exporter other than none, and off otherwise', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_SERVICE_NAME: 'x' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' })).toBe(
      false,
    );
  });

  it('starts nothing when tracing is not asked for', async () => {
    expect(await startTelemetry({ settings: {}, serviceName: 'bullpen-test' })).toBeUndefined();
  });
});
