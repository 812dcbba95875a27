import type { LetterTarget } from '../../admin.ts';
import type { DeadLetterEntry, LetterFilter } from '../../dead-letter.ts';
import type { Registry } from '../../define.ts';
import { DeadLetterNotFoundError } from '../../errors.ts';
import { deadLetterQueueName, isDeadLetterQueue } from '../../keys.ts';
import { parseQueuedPayload } from '../../payload-check.ts';
import { type CliContext, cliActor } from '../context.ts';
import { ExitCode, usageError } from '../exit-codes.ts';
import { type CommandResult, indent, oneLine, table } from '../output.ts';

/** The dashboard's filters, as options. */
export interface FilterOptions {
  queue?: string;
  job?: string;
  fingerprint?: string;
  message?: string;
  limit?: number;
}

export interface ActionOptions extends FilterOptions {
  all?: boolean;
  dryRun?: boolean;
}

/** At most this many letters in one filter-based replay or discard (as the dashboard). */
const MAX_LETTERS = 20_000;

function sourceQueue(registry: Registry, known: boolean, queue: string | undefined): string | undefined {
  if (!queue) return undefined;
  const q = isDeadLetterQueue(queue) ? queue.slice(0, -'.dead'.length) : queue;
  if (known && !registry.queues.includes(q)) {
    throw usageError(`unknown queue "${queue}" (the registry's queues: ${registry.queues.join(', ')})`);
  }
  return q;
}

function toFilter(registry: Registry, known: boolean, o: FilterOptions): LetterFilter {
  const f: LetterFilter = {};
  const queue = sourceQueue(registry, known, o.queue);
  if (queue) f.queue = queue;
  if (o.job) f.name = o.job;
  if (o.fingerprint) f.fingerprint = o.fingerprint;
  if (o.message) f.messageContains = o.message;
  if (o.limit) f.limit = o.limit;
  return f;
}

/** Ids, or a filter; an empty target is refused unless `--all` says so. */
function toTarget(registry: Registry, known: boolean, ids: string[], o: ActionOptions): LetterTarget {
  const filter = toFilter(registry, known, o);
  if (ids.length > 0) return { ids, ...(filter.queue ? { queue: filter.queue } : {}) };
  if (!filter.queue && !filter.name && !filter.fingerprint && !filter.messageContains && !o.all) {
    throw usageError('name the letters: ids, or --queue, --job, --fingerprint or --message (or --all)');
  }
  return { limit: MAX_LETTERS, ...filter };
}

/** A letter as the dashboard's API shows it. */
const letterView = (e: DeadLetterEntry) => ({ id: e.id, queue: e.queue, deadLetterQueue: e.deadQueue, ...e.letter });

export async function listCommand(ctx: CliContext, o: FilterOptions): Promise<CommandResult> {
  const { registry, known } = await ctx.registryOrQueues();
  const admin = await ctx.admin(registry);
  const letters = await admin.listDeadLetters(toFilter(registry, known, o));
  const text =
    letters.length === 0
      ? 'no dead letters'
      : table(
          ['ID', 'QUEUE', 'JOB', 'CODE', 'FAILED AT', 'ATTEMPTS', 'ERROR'],
          letters.map((e) => [
            e.id,
            e.queue,
            e.letter.name,
            e.letter.code,
            e.letter.failedAt,
            e.letter.attempts.length,
            e.letter.error.message,
          ]),
        );
  return { exitCode: ExitCode.OK, json: { letters: letters.map(letterView) }, text };
}

export async function groupsCommand(ctx: CliContext, o: FilterOptions): Promise<CommandResult> {
  const { registry, known } = await ctx.registryOrQueues();
  const admin = await ctx.admin(registry);
  const groups = await admin.groupDeadLetters(toFilter(registry, known, o));
  const text =
    groups.length === 0
      ? 'no dead letters'
      : table(
          ['COUNT', 'QUEUE', 'JOB', 'FINGERPRINT', 'FIRST SEEN', 'LAST SEEN', 'SAMPLE ERROR'],
          groups.map((g) => [
            g.count,
            g.queue,
            g.name,
            g.fingerprint,
            g.firstSeen,
            g.lastSeen,
            `${g.sampleError.code}: ${g.sampleError.message}`,
          ]),
        );
  const json = { groups: groups.map((g) => ({ ...g, deadLetterQueue: deadLetterQueueName(g.queue) })) };
  return { exitCode: ExitCode.OK, json, text };
}

export async function showCommand(ctx: CliContext, id: string, o: { queue?: string }): Promise<CommandResult> {
  const { registry, known } = await ctx.registryOrQueues();
  const admin = await ctx.admin(registry);
  const entry = await admin.getDeadLetter(id, sourceQueue(registry, known, o.queue));
  const { letter } = entry;
  const verdict = known
    ? parseQueuedPayload(registry, letter.name, letter.payload, undefined, letter.meta?.v ?? 1)
    : undefined;
  const schema = verdict
    ? verdict.ok
      ? { fits: true as const }
      : { fits: false as const, code: verdict.code, issue: verdict.issue }
    : undefined;
  const lines = [
    `letter       ${entry.id} in ${entry.deadQueue}`,
    `job          ${letter.name} (source job ${letter.jobId} on ${letter.sourceQueue})`,
    `code         ${letter.code}`,
    `error        ${letter.error.name}: ${oneLine(letter.error.message, 300)}`,
    `fingerprint  ${letter.fingerprint}  ${letter.fingerprintText}`,
    ...(letter.idempotencyKey ? [`key          ${letter.idempotencyKey}`] : []),
    ...(letter.meta.requestId ? [`request      ${letter.meta.requestId}`] : []),
    ...(letter.meta.replayOf ? [`replay of    ${letter.meta.replayOf}`] : []),
    `enqueued     ${letter.enqueuedAt}`,
    `failed       ${letter.failedAt}`,
    ...(letter.edits?.length ? [`edited       ${letter.edits.map((e) => `${e.at} by ${e.actor}`).join(', ')}`] : []),
    `schema       ${
      schema === undefined
        ? 'not checked (no --registry)'
        : schema.fits
          ? "fits today's schema"
          : `does not fit today's schema: ${schema.code} ${schema.issue}`
    }`,
    '',
    'payload',
    indent(JSON.stringify(letter.payload, null, 2)),
    '',
    `attempts (${letter.attempts.length})`,
    ...letter.attempts.map((a) => `  #${a.attempt} ${a.code ? `${a.code} ` : ''}${a.name}: ${oneLine(a.message, 300)}`),
    ...(letter.error.stack ? ['', 'stack of the final error', indent(letter.error.stack)] : []),
  ];
  return {
    exitCode: ExitCode.OK,
    json: { letter: letterView(entry), ...(schema ? { schema } : {}) },
    text: lines.join('\n'),
  };
}

export async function replayCommand(ctx: CliContext, ids: string[], o: ActionOptions): Promise<CommandResult> {
  const registry = await ctx.requireRegistry("replay re-validates every payload against today's schema");
  const target = toTarget(registry, true, ids, o);
  const admin = await ctx.admin(registry);
  const report = await admin.replay(target, { actor: cliActor(), dryRun: o.dryRun ?? false });
  const done = report.dryRun ? 'would replay' : 'replayed';
  const lines = [
    report.outcomes.length === 0
      ? 'no letters matched'
      : table(
          ['ID', 'QUEUE', 'JOB', 'STATUS', 'NEW JOB / REASON'],
          report.outcomes.map((r) => [
            r.id,
            r.queue,
            r.name,
            r.status,
            r.newJobId ?? `${r.code ?? ''} ${r.reason ?? ''}`.trim(),
          ]),
        ),
    '',
    `${report.dryRun ? 'dry run: ' : ''}${report.replayed} ${done}, ${report.refused} refused`,
  ];
  return {
    exitCode: report.refused > 0 ? ExitCode.FINDINGS : ExitCode.OK,
    json: report,
    text: lines.join('\n'),
  };
}

export async function discardCommand(ctx: CliContext, ids: string[], o: ActionOptions): Promise<CommandResult> {
  const { registry, known } = await ctx.registryOrQueues();
  const target = toTarget(registry, known, ids, o);
  const admin = await ctx.admin(registry);
  // What the target names now: the ids that exist, or the filter's matches.
  const found: DeadLetterEntry[] = [];
  const missing: string[] = [];
  if ('ids' in target) {
    for (const id of target.ids) {
      try {
        found.push(await admin.getDeadLetter(id, target.queue));
      } catch (err) {
        if (!(err instanceof DeadLetterNotFoundError)) throw err;
        missing.push(id);
      }
    }
  } else {
    found.push(...(await admin.listDeadLetters(target)));
  }
  const dryRun = o.dryRun ?? false;
  let discarded: string[] = [];
  if (!dryRun && found.length > 0) {
    // By ids: only those found, so the audit entry names what was removed.
    const what: LetterTarget = 'ids' in target ? { ...target, ids: found.map((e) => e.id) } : target;
    ({ discarded } = await admin.discardDeadLetters(what, { actor: cliActor() }));
  }
  const names = dryRun ? found.map((e) => e.id) : discarded;
  const lines = [
    names.length === 0
      ? 'no letters matched'
      : `${dryRun ? 'dry run: would discard' : 'discarded'} ${names.length} letter(s): ${names.join(' ')}`,
    ...(missing.length ? [`not found: ${missing.join(' ')}`] : []),
  ];
  return {
    exitCode: missing.length > 0 ? ExitCode.FINDINGS : ExitCode.OK,
    json: dryRun ? { dryRun, wouldDiscard: names, missing } : { dryRun, discarded, missing },
    text: lines.join('\n'),
  };
}
