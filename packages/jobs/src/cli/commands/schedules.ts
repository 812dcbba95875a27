import type { CliContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import { type CommandResult, table } from '../output.ts';

/**
 * `bullpen schedules`: the registry's schedules and the job schedulers Bullpen made in Redis, with their next run
 * times. Without --registry: only what Redis has.
 */
export async function schedulesCommand(ctx: CliContext): Promise<CommandResult> {
  const { registry, known } = await ctx.registryOrQueues();
  const admin = await ctx.admin(registry);
  const schedules = (await admin.listSchedules()).map((s) => (known ? s : { ...s, inRegistry: undefined }));
  const when = (s: (typeof schedules)[number]) => (s.cron ? `${s.cron} (${s.tz ?? 'UTC'})` : `every ${s.everyMs} ms`);
  const status = (s: (typeof schedules)[number]) =>
    !s.scheduled
      ? 'not scheduled yet (no worker of its queue has started)'
      : s.inRegistry === false
        ? 'dropped (a worker removes it at start)'
        : '';
  const text =
    schedules.length === 0
      ? 'no schedules'
      : table(
          ['NAME', 'JOB', 'QUEUE', 'WHEN', 'NEXT RUN', 'RUNS', 'NOTE'],
          schedules.map((s) => [s.name, s.job, s.queue, when(s), s.next ?? '', s.iterations, status(s)]),
        );
  return { exitCode: ExitCode.OK, json: { schedules }, text };
}
