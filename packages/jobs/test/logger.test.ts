import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loggerOptions } from '../src/index.ts';

describe('loggerOptions', () => {
  it('adds the mixin’s fields to every line, when given', () => {
    const lines: Record<string, unknown>[] = [];
    const out = new Writable({
      write(chunk, _e, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    let n = 0;
    pino(loggerOptions({ name: 't', mixin: () => ({ trace_id: `t${++n}` }) }), out).info('one');
    pino(loggerOptions({ name: 't' }), out).info('two');
    expect(lines[0]).toMatchObject({ msg: 'one', trace_id: 't1' });
    expect(lines[1]).not.toHaveProperty('trace_id');
  });
});
