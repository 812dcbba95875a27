export { clientErrorHandler, frameworkErrorHandler } from './client-errors.ts';
export { type DescribedError, describeError } from './describe.ts';
export {
  COMMON_HTTP_ERRORS,
  type CommonErrorCode,
  defineErrors,
  type ErrorBody,
  type ErrorRegistry,
  errorBody,
  HttpError,
  type HttpErrorSpec,
} from './errors.ts';
export { RequestLog } from './request-log.ts';
