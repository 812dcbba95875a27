import type { TEMPLATES } from './jobs.js';

const subjects: Record<(typeof TEMPLATES)[number], string> = {
  welcome: 'Welcome aboard',
  receipt: 'Your receipt',
};

/** Fills a template in; a real app would use a template engine. */
export function render(template: (typeof TEMPLATES)[number], vars: Record<string, string>) {
  const name = vars.name ?? 'there';
  const body =
    template === 'welcome' ? `Hello ${name}, welcome!` : `Hello ${name}, thanks for order ${vars.order ?? '?'}.`;
  return { subject: subjects[template], body };
}
