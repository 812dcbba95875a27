import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** What the figures were measured on. */
export function machine(): Record<string, string | number> {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  let redis = 'unknown';
  try {
    redis = /v=([\d.]+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? redis;
  } catch {}
  return {
    nproc: os.availableParallelism(),
    cpu: model,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    redis,
    platform: `${os.platform()} ${os.release()}`,
  };
}
