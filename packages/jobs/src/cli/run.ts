import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BullpenError, errorCode, errorMessage, JobErrorCode } from '../errors.ts';
import { auditCommand } from './commands/audit.ts';
import { cancelCommand } from './commands/cancel.ts';
import { checkCommand } from './commands/check.ts';
import { doctorCommand } from './commands/doctor.ts';
import {
  type ActionOptions,
  discardCommand,
  type FilterOptions,
  groupsCommand,
  listCommand,
  replayCommand,
  showCommand,
} from './commands/letters.ts';
import { schedulesCommand } from './commands/schedules.ts';
import { searchCommand } from './commands/search.ts';
import { CliContext, DEFAULT_PREFIX, DEFAULT_REDIS_URL, type GlobalOptions } from './context.ts';
import { CliError, CliErrorCode, EXIT_CODES_HELP, ExitCode } from './exit-codes.ts';
import type { CliIo, CommandResult } from './output.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function filterOptions(cmd: Command, limitHelp: string): Command {
  return cmd
    .option('--queue <queue>', 'source queue (images) or its dead-letter queue (images.dead)')
    .option('--job <name>', 'job name (image.resize)')
    .option('--fingerprint <hash>', 'error fingerprint, as `letters groups` shows it')
    .option('--message <text>', 'text in the final error message (case-insensitive)')
    .option('--limit <n>', limitHelp, positiveInt);
}

/** Commander error codes that mean "help or version was printed as asked". */
const SHOWN = new Set(['commander.helpDisplayed', 'commander.version']);

/** The result's mapping of an error: its code, message and exit code. */
function describeError(err: unknown): { code: string; message: string; exitCode: number } {
  if (err instanceof CliError) return { code: err.code, message: err.message, exitCode: err.exitCode };
  const code = errorCode(err);
  const message = errorMessage(err);
  if (err instanceof BullpenError || (code && /^[A-Z][A-Z0-9_]+$/.test(code))) {
    if (code === JobErrorCode.REDIS_NOT_READY) return { code, message, exitCode: ExitCode.REDIS_UNREACHABLE };
    return { code: code!, message, exitCode: ExitCode.FINDINGS };
  }
  // ioredis gave up on a command: Redis went away mid-command.
  const name = (err as { name?: string } | null)?.name;
  if (name === 'MaxRetriesPerRequestError' || /ECONNREFUSED|Connection is closed/.test(message)) {
    return { code: JobErrorCode.REDIS_NOT_READY, message, exitCode: ExitCode.REDIS_UNREACHABLE };
  }
  return {
    code: CliErrorCode.CLI_INTERNAL,
    message: message.split('\n', 1)[0] ?? message,
    exitCode: ExitCode.INTERNAL,
  };
}

/**
 * Runs the `bullpen` CLI on `argv` (without node and the script) and returns its exit code. Never exits the
 * process: the bin (`main.ts`) does.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let result: CommandResult | undefined;
  let ctx: CliContext | undefined;
  const wantsJson = argv.includes('--json');

  const program = new Command('bullpen')
    .description("Operate Bullpen's queues: check Redis, inspect and replay dead letters, find jobs, gate deploys")
    .version(version, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout(s),
      writeErr: (s) => io.stderr(s),
      // One line with the code, as every other error.
      outputError: (s, write) => write(`${CliErrorCode.CLI_USAGE}: ${s.replace(/^error: /, '')}`),
    })
    .addOption(
      new Option('--redis-url <url>', `Redis to use (env REDIS_URL, default ${DEFAULT_REDIS_URL})`).helpGroup(
        'Global options:',
      ),
    )
    .addOption(
      new Option(
        '--cluster-nodes <list>',
        'host:port seed nodes of a Redis Cluster (env REDIS_CLUSTER_NODES)',
      ).helpGroup('Global options:'),
    )
    .addOption(
      new Option('--prefix <prefix>', `key prefix (env BULLPEN_PREFIX, default ${DEFAULT_PREFIX})`).helpGroup(
        'Global options:',
      ),
    )
    .addOption(
      new Option(
        '--registry <module>',
        'module exporting the registry as "registry" or default: a path (from the current directory) or a package name (env BULLPEN_REGISTRY)',
      ).helpGroup('Global options:'),
    )
    .addOption(new Option('--json', 'print one JSON document to stdout').helpGroup('Global options:'))
    .addHelpText('after', EXIT_CODES_HELP);

  /** Wraps a command: its context from the global options, its result kept for printing. */
  const action =
    <A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<CommandResult>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      ctx = new CliContext(io, cmd.optsWithGlobals<GlobalOptions>());
      result = await fn(ctx, ...(args.slice(0, -1) as A));
    };

  program
    .command('doctor')
    .description(
      'check Redis: version >= 6.2, maxmemory-policy noeviction, persistence (AOF and its fsync, RDB), and on a ' +
        'cluster the slot of the prefix and the master serving it; exit 1 with the fix when something would lose jobs',
    )
    .action(action((c) => doctorCommand(c)));

  const letters = program
    .command('letters')
    .description('dead letters: list, groups, show, replay, discard (without --registry: the queues found in Redis)');
  filterOptions(
    letters.command('list').description('list dead letters, newest first'),
    'at most n (default 1000)',
  ).action(action((c, o: FilterOptions) => listCommand(c, o)));
  filterOptions(
    letters.command('groups').description('group dead letters by job and error fingerprint, largest first'),
    'group at most n letters per queue (default 20000)',
  ).action(action((c, o: FilterOptions) => groupsCommand(c, o)));
  letters
    .command('show <id>')
    .description("one letter: payload, every attempt's error, whether it fits today's schema (with --registry)")
    .option('--queue <queue>', 'look only in this queue (ids are unique per queue)')
    .action(action((c, id: string, o: { queue?: string }) => showCommand(c, id, o)));
  filterOptions(
    letters
      .command('replay [ids...]')
      .description(
        "re-enqueue letters whose payload fits today's schema (needs --registry); refused ones stay. " +
          'Audited as cli:<os user>; exit 1 when any is refused',
      )
      .option('--all', 'every letter (when no id or filter is given)')
      .option('--dry-run', 'say what would happen, change nothing'),
    'at most n letters (default: every match, up to 20000)',
  ).action(action((c, ids: string[], o: ActionOptions) => replayCommand(c, ids, o)));
  filterOptions(
    letters
      .command('discard [ids...]')
      .description('remove letters for good. Audited as cli:<os user>; exit 1 when an id is not found')
      .option('--all', 'every letter (when no id or filter is given)')
      .option('--dry-run', 'say what would be removed, remove nothing'),
    'at most n letters (default: every match, up to 20000)',
  ).action(action((c, ids: string[], o: ActionOptions) => discardCommand(c, ids, o)));

  program
    .command('search <term>')
    .description(
      'find jobs and dead letters by job id or idempotency key (keys need --registry), across every queue; exit 1 when nothing is found',
    )
    .action(action((c, term: string) => searchCommand(c, term)));

  program
    .command('check')
    .description(
      "deploy gate: parse every waiting, delayed and prioritized job and every dead letter with today's schemas " +
        '(needs --registry), migrating older payload versions first as a worker would; print how many would migrate ' +
        'and what would be dead-lettered (JOB_PAYLOAD_INVALID, JOB_UNKNOWN, JOB_PAYLOAD_TOO_NEW, ' +
        'JOB_PAYLOAD_MIGRATION_FAILED) grouped by job and first issue; exit 1 when anything would',
    )
    .option('--max-per-queue <n>', 'read at most n jobs per queue and state (default 100000)', positiveInt)
    .action(action((c, o: { maxPerQueue?: number }) => checkCommand(c, o)));

  program
    .command('cancel <ids...>')
    .description(
      'cancel jobs: remove those waiting or delayed, abort running ones in whichever worker runs them (no retry, ' +
        'no dead letter). Audited as cli:<os user>; exit 1 when an id was not cancelled',
    )
    .option('--queue <queue>', 'the queue the ids are in (ids are unique per queue)')
    .option('--wait <ms>', 'wait up to ms for running jobs to stop, and print their final state', positiveInt)
    .action(action((c, ids: string[], o: { queue?: string; wait?: number }) => cancelCommand(c, ids, o)));

  program
    .command('schedules')
    .description("the registry's schedules and the job schedulers Bullpen made in Redis, with their next run times")
    .action(action((c) => schedulesCommand(c)));

  program
    .command('audit')
    .description('the newest audit log entries: who did what, when, to which jobs')
    .option('--limit <n>', 'at most n entries (default 20)', positiveInt)
    .option('--before <id>', 'entries older than this entry id (paging)')
    .action(action((c, o: { limit?: number; before?: string }) => auditCommand(c, o)));

  for (const cmd of [...program.commands, ...letters.commands]) {
    if (cmd !== letters) cmd.addHelpText('after', EXIT_CODES_HELP);
  }

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (SHOWN.has(err.code) || err.exitCode === 0) return ExitCode.OK;
      // Commander has written its one line (or the help, for a missing command) to stderr.
      const error = { code: CliErrorCode.CLI_USAGE, message: err.message.replace(/^error: /, '') };
      if (wantsJson) io.stdout(`${JSON.stringify({ error }, null, 2)}\n`);
      return ExitCode.USAGE;
    }
    const { code, message, exitCode } = describeError(err);
    io.stderr(`${code}: ${message}\n`);
    if (ctx?.json ?? wantsJson) io.stdout(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`);
    return exitCode;
  } finally {
    await ctx?.close();
  }
  if (!result) return ExitCode.OK;
  io.stdout(ctx?.json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
  return result.exitCode;
}
