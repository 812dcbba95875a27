import { redactRedisUrl } from '../../connection.ts';
import { doctor } from '../../doctor.ts';
import type { CliContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CommandResult } from '../output.ts';

/** `bullpen doctor`: how Redis stands on what Bullpen relies on; exit 1 when something would lose jobs. */
export async function doctorCommand(ctx: CliContext): Promise<CommandResult> {
  const report = await doctor(await ctx.redis(), { prefix: ctx.prefix });
  const errors = report.findings.filter((f) => f.level === 'error').length;
  const warnings = report.findings.filter((f) => f.level === 'warn').length;
  const lines = [
    `Redis ${report.mode} at ${redactRedisUrl(ctx.target.url)}, prefix "${report.prefix}"` +
      (report.mode === 'cluster' ? `, ${report.nodes.length} masters` : ''),
    '',
  ];
  for (const f of report.findings) {
    const where = report.mode === 'cluster' && f.node ? ` [${f.node}]` : '';
    lines.push(`${(f.level === 'error' ? 'ERROR' : f.level).padEnd(5)}  ${f.check.padEnd(16)}  ${f.message}${where}`);
    if (f.fix) lines.push(`${' '.repeat(25)}fix: ${f.fix}`);
  }
  lines.push('');
  lines.push(
    errors > 0
      ? `${errors} error(s), ${warnings} warning(s): this Redis can lose jobs or cannot run Bullpen`
      : warnings > 0
        ? `no errors, ${warnings} warning(s)`
        : 'all good',
  );
  return { exitCode: report.ok ? ExitCode.OK : ExitCode.FINDINGS, json: report, text: lines.join('\n') };
}
