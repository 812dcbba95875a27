import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run.ts';
import { hashTagOf } from '../src/doctor.ts';

/** runCli in this process, with buffers for streams: the commands return exit codes, they never exit. */
async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env: {},
    cwd: import.meta.dirname,
  });
  return { code, stdout, stderr };
}

describe('cli in process', () => {
  it('prints help and the version with exit 0, never exiting the process', async () => {
    const help = await cli('letters', 'list', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--message <text>');
    expect((await cli('--version')).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('answers usage errors with exit 2, one CLI_USAGE line, and a JSON error document with --json', async () => {
    const r = await cli('letters', 'show', '--json');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("CLI_USAGE: missing required argument 'id'\n");
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'CLI_USAGE', message: "missing required argument 'id'" } });
    expect((await cli('check', '--max-per-queue', '0')).code).toBe(2);
    expect((await cli('bogus')).code).toBe(2);
  });

  it('refuses check and replay without a registry before connecting anywhere', async () => {
    for (const argv of [['check'], ['letters', 'replay', '--all']]) {
      const r = await cli(...argv, '--redis-url', 'redis://127.0.0.1:1');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^CLI_REGISTRY_REQUIRED: /);
    }
  });

  it('reads hash tags as Redis Cluster does', () => {
    expect(hashTagOf('{bullpen}')).toBe('bullpen');
    expect(hashTagOf('app-{a}-{b}')).toBe('a');
    expect(hashTagOf('bullpen')).toBeUndefined();
    expect(hashTagOf('{}bullpen')).toBeUndefined();
    expect(hashTagOf('{bullpen')).toBeUndefined();
  });
});
