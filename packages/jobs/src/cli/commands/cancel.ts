import { type CliContext, cliActor } from '../context.ts';
import { ExitCode, usageError } from '../exit-codes.ts';
import { type CommandResult, table } from '../output.ts';

/**
 * `bullpen cancel <ids...>`: removes the jobs that are not running and aborts the running ones in whichever worker
 * runs them (`admin.cancel`). Audited as `cli:<os user>`; exit 1 when an id was not cancelled (not found, finished
 * already, or in several queues).
 */
export async function cancelCommand(
  ctx: CliContext,
  ids: string[],
  o: { queue?: string; wait?: number },
): Promise<CommandResult> {
  const { registry, known } = await ctx.registryOrQueues();
  if (o.queue && !registry.queues.includes(o.queue)) {
    throw usageError(
      `unknown queue "${o.queue}" (${known ? "the registry's" : 'the'} queues: ${registry.queues.join(', ')})`,
    );
  }
  const admin = await ctx.admin(registry);
  const report = await admin.cancel(ids, {
    actor: cliActor(),
    ...(o.queue ? { queue: o.queue } : {}),
    ...(o.wait !== undefined ? { waitMs: o.wait } : {}),
  });
  const text = [
    table(
      ['ID', 'QUEUE', 'JOB', 'OUTCOME', 'STATE'],
      report.outcomes.map((r) => [r.id, r.queue, r.name, r.status, r.state]),
    ),
    '',
    `${report.cancelled} of ${ids.length} cancelled`,
  ].join('\n');
  return { exitCode: report.cancelled === ids.length ? ExitCode.OK : ExitCode.FINDINGS, json: report, text };
}
