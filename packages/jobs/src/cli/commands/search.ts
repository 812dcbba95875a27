import type { CliContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import { type CommandResult, table } from '../output.ts';

/** `bullpen search <term>`: jobs and letters by job id, or by idempotency key (which needs the registry's job names). */
export async function searchCommand(ctx: CliContext, term: string): Promise<CommandResult> {
  const { registry, known } = await ctx.registryOrQueues();
  const admin = await ctx.admin(registry);
  const results = await admin.findJobs(term);
  const text =
    results.length === 0
      ? `nothing found for "${term}"${known ? '' : ' (without --registry only job ids are searched, not idempotency keys)'}`
      : table(
          ['QUEUE', 'ID', 'JOB', 'STATE', 'KEY', 'ENQUEUED', 'FAILED REASON'],
          results.map((r) => [
            r.queue,
            r.id,
            r.name,
            r.deadLetter ? 'dead-letter' : r.state,
            r.idempotencyKey,
            new Date(r.timestamp).toISOString(),
            r.failedReason,
          ]),
        );
  return { exitCode: results.length > 0 ? ExitCode.OK : ExitCode.FINDINGS, json: { term, results }, text };
}
