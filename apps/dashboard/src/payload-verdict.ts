import { checkPayload, type JobDefinition } from '@bullpen/jobs';
import { html, type SafeHtml } from './html.ts';

/**
 * Whether a stored payload (a job's, a letter's) fits today's schema, as a worker or a replay would decide it: an
 * older payload version is migrated first (`checkPayload`).
 */
export function payloadVerdict(
  def: JobDefinition | undefined,
  name: string,
  payload: unknown,
  version: number | undefined,
): SafeHtml {
  if (!def) return html`<span class="err">no job "${name}" in today's registry</span>`;
  const from = version ?? 1;
  const c = checkPayload(def, payload, from);
  if (c.ok) {
    return c.migrated
      ? html`<span class="ok">yes, once migrated from version ${from} to ${def.version}</span>`
      : html`<span class="ok">yes</span>`;
  }
  const why = c.issues ? c.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') : c.reason;
  return html`<span class="err">no: ${c.code === 'JOB_PAYLOAD_INVALID' ? '' : html`<code>${c.code}</code> `}${why}</span>`;
}
