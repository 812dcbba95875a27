import { checkQueuedPayloads } from '../../payload-check.ts';
import type { CliContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import { type CommandResult, table } from '../output.ts';

/**
 * `bullpen check`: parses every waiting, delayed and prioritized job and every dead letter with today's schemas;
 * exit 1 when any would be dead-lettered (or refused on replay).
 */
export async function checkCommand(ctx: CliContext, opts: { maxPerQueue?: number }): Promise<CommandResult> {
  const registry = await ctx.requireRegistry("check parses payloads with today's schemas");
  const report = await checkQueuedPayloads(registry, {
    connection: await ctx.redis(),
    prefix: ctx.prefix,
    ...(opts.maxPerQueue ? { maxPerQueue: opts.maxPerQueue } : {}),
  });
  const lines = [
    `read ${report.scanned.jobs} queued job(s) and ${report.scanned.letters} dead letter(s) of ` +
      `${registry.queues.join(', ')} under prefix "${ctx.prefix}"`,
  ];
  for (const t of report.truncated) {
    lines.push(`warning: ${t.queue} (${t.state}) has more than --max-per-queue; the rest was not read`);
  }
  if (report.migrated > 0) {
    const each = report.migrations.map(
      (m) => `${m.name} v${m.fromVersion}->v${m.toVersion} (${m.jobs} job(s), ${m.letters} letter(s))`,
    );
    lines.push(`${report.migrated} payload(s) of an older version fit once migrated: ${each.join(', ')}`);
  }
  if (report.ok) {
    lines.push("every payload fits today's schemas");
  } else {
    lines.push(`${report.invalid} would fail: queued jobs would be dead-lettered, dead letters refused on replay`, '');
    lines.push(
      table(
        ['COUNT', 'JOB', 'CODE', 'FIRST ISSUE', 'JOBS', 'LETTERS', 'SAMPLES'],
        report.groups.map((g) => [
          g.count,
          g.name,
          g.code,
          g.issue,
          g.jobs,
          g.letters,
          g.samples.map((s) => `${s.queue}/${s.id}`).join(' '),
        ]),
      ),
    );
  }
  return { exitCode: report.ok ? ExitCode.OK : ExitCode.FINDINGS, json: report, text: lines.join('\n') };
}
