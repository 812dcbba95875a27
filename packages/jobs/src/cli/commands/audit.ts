import type { CliContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import { type CommandResult, table } from '../output.ts';

/** `bullpen audit`: the newest audit entries (who did what, when, to which jobs). */
export async function auditCommand(ctx: CliContext, opts: { limit?: number; before?: string }): Promise<CommandResult> {
  const { registry } = await ctx.registryOrQueues();
  const admin = await ctx.admin(registry);
  const entries = await admin.audit.list({ limit: opts.limit ?? 20, ...(opts.before ? { before: opts.before } : {}) });
  const text =
    entries.length === 0
      ? 'the audit log is empty'
      : table(
          ['ID', 'AT', 'ACTOR', 'ACTION', 'QUEUE', 'OUTCOME', 'IDS'],
          entries.map((e) => [e.id, e.at, e.actor, e.action, e.queue, e.outcome, e.ids.join(' ')]),
        );
  return { exitCode: ExitCode.OK, json: { entries }, text };
}
