/** The `bullpen` CLI's exit codes: public API, stated in `--help` and the README. */
export const ExitCode = {
  /** Done; nothing to report. */
  OK: 0,
  /** Done, with findings: doctor or check found problems, a replay refused letters, nothing was found. */
  FINDINGS: 1,
  /** Bad arguments or options, a `--registry` that cannot be loaded, or a command that needs one without it. */
  USAGE: 2,
  /** Redis is unreachable (or refused the connection). */
  REDIS_UNREACHABLE: 3,
  /** Anything unexpected (a bug): the message says what. */
  INTERNAL: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The CLI's own error codes, beside the framework's (`REDIS_NOT_READY`, `DEAD_LETTER_NOT_FOUND`, ...). */
export const CliErrorCode = {
  CLI_USAGE: 'CLI_USAGE',
  CLI_REGISTRY_REQUIRED: 'CLI_REGISTRY_REQUIRED',
  CLI_REGISTRY_INVALID: 'CLI_REGISTRY_INVALID',
  CLI_INTERNAL: 'CLI_INTERNAL',
} as const;

/** An error that ends a command with its code on stderr and the given exit code. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(CliErrorCode.CLI_USAGE, message, ExitCode.USAGE);

export const EXIT_CODES_HELP = `
Exit codes:
  0  done, nothing to report
  1  findings: doctor or check found a problem, a replay or discard refused some letters,
     search found nothing, show found no such letter
  2  usage: bad arguments, an unloadable --registry, or a command that needs --registry without one
  3  Redis unreachable
  4  unexpected error

Errors go to stderr as one line, CODE: message. With --json, stdout holds one JSON document
(the result, or {"error": {"code", "message"}}).`;
