export {
  type AppTelemetry,
  type SpanAttributes,
  startTelemetry,
  type TelemetrySettings,
  tracingRequested,
} from './telemetry.ts';
