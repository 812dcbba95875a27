import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const s3rverBin = path.join(path.dirname(require.resolve('s3rver/package.json')), 'bin/s3rver.js');

/** s3rver's one account (it checks signatures against it). */
const ACCESS_KEY = 'S3RVER';

export interface S3ServerHandle {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  port: number;
  /** The folder the objects are kept in. */
  dir: string;
  pid: number;
  /** Buckets made at start. */
  buckets: string[];
  /** S3Client settings that reach this server (path-style: it listens on an IP address). */
  clientConfig: {
    endpoint: string;
    region: string;
    forcePathStyle: true;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** The standard AWS variables that point an SDK at this server. */
  awsEnv: Record<string, string>;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts a throw-away S3-protocol server (s3rver, from the npm registry) on a free loopback port, with
 * its objects in a fresh temporary folder, as a child process of its own.
 *
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which Node 17+'s OpenSSL 3 only offers
 * with the legacy provider: without `--openssl-legacy-provider` every truncated listing is a 500.
 * It also writes an object's file in place, so unlike S3 a reader can see a PUT in progress.
 */
export async function startS3Server(opts: { buckets?: string[] } = {}): Promise<S3ServerHandle> {
  const buckets = opts.buckets ?? ['bullpen-test'];
  const dir = mkdtempSync(path.join(tmpdir(), 'bullpen-s3-'));
  const args = ['--openssl-legacy-provider', s3rverBin, '--directory', dir, '--address', '127.0.0.1', '--port', '0'];
  for (const b of buckets) args.push('--configure-bucket', b);
  args.push('--silent');
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`s3rver did not start within 15 s:\n${out}`)), 15_000);
    const onExit = (code: number | null, signal: string | null) =>
      fail(new Error(`s3rver exited (${code ?? signal}):\n${out}`));
    const settle = () => {
      clearTimeout(timer);
      child.off('error', fail);
      child.off('exit', onExit);
    };
    function fail(err: Error) {
      settle();
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      reject(err);
    }
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /S3rver listening on [^\s:]+:(\d+)/.exec(out);
      if (m) {
        settle();
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', fail);
    child.once('exit', onExit);
  });
  child.stdout!.resume();
  child.stderr!.resume();
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    dir,
    pid: child.pid!,
    buckets,
    clientConfig: {
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: ACCESS_KEY },
    },
    awsEnv: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: ACCESS_KEY,
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
