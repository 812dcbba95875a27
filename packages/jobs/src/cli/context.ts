import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { createJobAdmin, type JobAdmin } from '../admin.ts';
import {
  closeRedis,
  createRedisConnection,
  type RedisClient,
  type RedisTarget,
  redactRedisUrl,
} from '../connection.ts';
import type { Registry } from '../define.ts';
import { errorMessage, JobErrorCode } from '../errors.ts';
import { isDeadLetterQueue } from '../keys.ts';
import { CliError, CliErrorCode, ExitCode, usageError } from './exit-codes.ts';
import type { CliIo } from './output.ts';

/** The options every command takes (commander's `optsWithGlobals()`). */
export interface GlobalOptions {
  redisUrl?: string;
  clusterNodes?: string;
  prefix?: string;
  registry?: string;
  json?: boolean;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_PREFIX = 'bullpen';

/** Who acts, for the audit log: `cli:<os user>`. */
export function cliActor(): string {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    // A uid without a passwd entry (some containers).
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

function isRegistry(value: unknown): value is Registry {
  const r = value as Partial<Registry> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.jobs === 'object' &&
    Array.isArray(r.queues) &&
    typeof r.jobsOf === 'function'
  );
}

/**
 * Imports the module `spec` names (a path, relative to `cwd`, or a package name resolved from `cwd`) and returns
 * its `registry` export, else its default export.
 */
export async function loadRegistry(spec: string, cwd: string): Promise<Registry> {
  const invalid = (message: string, cause?: unknown) =>
    new CliError(CliErrorCode.CLI_REGISTRY_INVALID, message, ExitCode.USAGE, { cause });
  let file: string;
  try {
    file =
      spec.startsWith('.') || path.isAbsolute(spec)
        ? path.resolve(cwd, spec)
        : createRequire(path.join(cwd, 'package.json')).resolve(spec);
  } catch (err) {
    throw invalid(`cannot find the registry module "${spec}" from ${cwd}: ${errorMessage(err)}`, err);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw invalid(`cannot load the registry module "${spec}": ${errorMessage(err)}`, err);
  }
  const found = isRegistry(mod.registry) ? mod.registry : isRegistry(mod.default) ? mod.default : undefined;
  if (!found) throw invalid(`"${spec}" exports no registry: export it as "registry" or as the default export`);
  return found;
}

/** A stand-in registry that knows only queue names: enough to read and discard letters, never to replay. */
function queuesOnly(queues: string[]): Registry {
  return Object.freeze({
    jobs: {},
    events: {},
    schedules: [],
    queues,
    jobsOf: () => [],
    rateLimitOf: () => undefined,
  }) as unknown as Registry;
}

const escapeGlob = (s: string) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/**
 * The queues (source queue names) under the prefix: those with BullMQ's `<prefix>:<queue>:meta` hash, which every
 * add writes. SCAN walks the whole keyspace (Redis filters by pattern): fine for an operator's command.
 */
export async function discoverQueues(client: RedisClient, prefix: string): Promise<string[]> {
  const servers: Redis[] =
    'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client as Redis];
  const found = new Set<string>();
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', `${escapeGlob(prefix)}:*:meta`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const rest = key.slice(prefix.length + 1);
        const m = /^([^:]+):meta$/.exec(rest);
        if (m) found.add(isDeadLetterQueue(m[1]!) ? m[1]!.slice(0, -'.dead'.length) : m[1]!);
      }
    } while (cursor !== '0');
  }
  return [...found].sort();
}

/** What a command needs, made on first use and closed once the command is done. */
export class CliContext {
  private client?: RedisClient;
  private loaded?: Registry | undefined;
  private registryLoaded = false;
  private readonly closers: (() => Promise<void>)[] = [];

  constructor(
    readonly io: CliIo,
    private readonly opts: GlobalOptions,
  ) {}

  get json(): boolean {
    return this.opts.json === true;
  }

  get prefix(): string {
    return this.opts.prefix ?? this.io.env.BULLPEN_PREFIX ?? DEFAULT_PREFIX;
  }

  get target(): RedisTarget {
    const url = this.opts.redisUrl ?? this.io.env.REDIS_URL ?? DEFAULT_REDIS_URL;
    const nodes = (this.opts.clusterNodes ?? this.io.env.REDIS_CLUSTER_NODES ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean);
    return nodes.length > 0 ? { url, clusterNodes: nodes } : { url };
  }

  /** A connection that has answered a PING; `REDIS_NOT_READY` (exit 3) when Redis does not answer. */
  async redis(): Promise<RedisClient> {
    if (this.client) return this.client;
    const target = this.target;
    let client: RedisClient;
    try {
      client = createRedisConnection(target, 'admin');
    } catch (err) {
      throw usageError(`cannot use --redis-url ${redactRedisUrl(target.url)}: ${errorMessage(err)}`);
    }
    let lastError: Error | undefined;
    // ioredis reports every failed reconnect as an 'error' event; the one line below says it all.
    client.on('error', (err: Error) => {
      lastError = err;
    });
    this.closers.push(() => closeRedis(client));
    this.client = client;
    try {
      await client.ping();
    } catch (err) {
      throw new CliError(
        JobErrorCode.REDIS_NOT_READY,
        `Redis is not reachable (${(lastError ?? (err as Error)).message}) at ${redactRedisUrl(target.url)}`,
        ExitCode.REDIS_UNREACHABLE,
        { cause: err },
      );
    }
    return client;
  }

  /** The `--registry` module's registry, or undefined without `--registry`. */
  async registry(): Promise<Registry | undefined> {
    if (!this.registryLoaded) {
      const spec = this.opts.registry ?? this.io.env.BULLPEN_REGISTRY;
      this.loaded = spec ? await loadRegistry(spec, this.io.cwd) : undefined;
      this.registryLoaded = true;
    }
    return this.loaded;
  }

  /** The registry, or `CLI_REGISTRY_REQUIRED` (exit 2) saying why the command needs it. */
  async requireRegistry(why: string): Promise<Registry> {
    const r = await this.registry();
    if (!r) {
      throw new CliError(
        CliErrorCode.CLI_REGISTRY_REQUIRED,
        `${why}: pass --registry <module> (a path or package exporting the registry as "registry" or default)`,
        ExitCode.USAGE,
      );
    }
    return r;
  }

  /** The registry when given; else the queues found under the prefix (reading and discarding letters only). */
  async registryOrQueues(): Promise<{ registry: Registry; known: boolean }> {
    const r = await this.registry();
    if (r) return { registry: r, known: true };
    return { registry: queuesOnly(await discoverQueues(await this.redis(), this.prefix)), known: false };
  }

  async admin(registry: Registry): Promise<JobAdmin> {
    const admin = createJobAdmin(registry, { connection: await this.redis(), prefix: this.prefix });
    this.closers.unshift(() => admin.close());
    return admin;
  }

  async close(): Promise<void> {
    for (const close of this.closers.splice(0)) await close().catch(() => {});
  }
}
