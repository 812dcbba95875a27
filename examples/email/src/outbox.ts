// A stand-in for an SMTP client: "sending" writes the message to a folder. It refuses some addresses for good
// (a mailbox that does not exist) and answers "try again later" to others a few times, as real servers do.
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface Message {
  to: string;
  subject: string;
  body: string;
  /** Sent as a header: the far side may deduplicate on it. */
  idempotencyKey: string;
}

/** The mail server refused the address: retrying cannot help. */
export class MailboxRejectedError extends Error {
  constructor(readonly address: string) {
    super(`550 mailbox ${address} does not exist`);
    this.name = 'MailboxRejectedError';
  }
}

/** The mail server asked to try again later. */
export class TryLaterError extends Error {
  constructor(address: string) {
    super(`421 try again later (${address})`);
    this.name = 'TryLaterError';
  }
}

export class Outbox {
  private readonly rejected = new Set<string>();
  private readonly busy = new Map<string, number>();

  constructor(readonly dir: string) {}

  /** From now on, `address` is refused for good. */
  reject(address: string): void {
    this.rejected.add(address);
  }

  /** The mailbox exists again. */
  accept(address: string): void {
    this.rejected.delete(address);
  }

  /** The next `times` sends to `address` are answered "try again later". */
  busyFor(address: string, times: number): void {
    this.busy.set(address, times);
  }

  async send(message: Message, signal?: AbortSignal): Promise<{ messageId: string }> {
    signal?.throwIfAborted();
    if (this.rejected.has(message.to)) throw new MailboxRejectedError(message.to);
    const busy = this.busy.get(message.to) ?? 0;
    if (busy > 0) {
      this.busy.set(message.to, busy - 1);
      throw new TryLaterError(message.to);
    }
    await mkdir(this.dir, { recursive: true });
    const messageId = randomUUID();
    // Written whole or not at all: a crash never leaves half a message.
    const file = path.join(this.dir, `${messageId}.json`);
    await writeFile(`${file}.tmp`, JSON.stringify({ messageId, ...message }, null, 2));
    await rename(`${file}.tmp`, file);
    return { messageId };
  }

  /** Every message sent so far. */
  async sent(): Promise<(Message & { messageId: string })[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const files = names.filter((n) => n.endsWith('.json'));
    return Promise.all(files.map(async (n) => JSON.parse(await readFile(path.join(this.dir, n), 'utf8'))));
  }
}
