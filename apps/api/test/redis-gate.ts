import net from 'node:net';

export interface RedisGate {
  /** `redis://127.0.0.1:<port>`: give this to the process under test instead of Redis's own URL. */
  url: string;
  /**
   * From now on, the first chunk a client sends that contains `marker` still goes through, and everything that
   * client sends after it is held: the process is stuck at its next Redis command, at a known point.
   */
  holdAfter(marker: string): void;
  /** Whether a client has been held since `holdAfter`. */
  readonly holding: boolean;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a Redis on loopback that can stop a client right after a given command, so a test can
 * kill a process at a point of its own choosing (after its Idempotency-Key claim, say) however fast the
 * process is.
 */
export async function redisGate(redisPort: number): Promise<RedisGate> {
  let marker: string | undefined;
  let held = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(redisPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let stopped = false;
    client.on('data', (chunk: Buffer) => {
      if (stopped) return;
      upstream.write(chunk);
      if (marker !== undefined && chunk.includes(marker)) {
        stopped = true;
        held = true;
        marker = undefined;
      }
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    holdAfter(m) {
      marker = m;
      held = false;
    },
    get holding() {
      return held;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
