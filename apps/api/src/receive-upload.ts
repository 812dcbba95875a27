import type { Readable } from 'node:stream';
import type { StagedObject, Storage } from '@bullpen/storage';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

export interface ReceivedUpload {
  staged: StagedObject;
  /** Form fields as sent; `sizes` may repeat (joined with commas), others may not. */
  fields: Record<string, string>;
}

const REPEATABLE = new Set(['sizes']);
const KNOWN_FIELDS = new Set(['sizes', 'callbackUrl']);
/** A field as an answer may name it: only the API's own field names are repeated, never a client's. */
const fieldLabel = (name: string) => (KNOWN_FIELDS.has(name) ? `Field "${name}"` : 'A form field');
const BUSBOY_MALFORMED =
  /^(Unexpected end of (form|multipart data)|Malformed part header|Multipart: Boundary not found|Part terminated early)/;

/** How long an upload may take, and how slowly it may arrive. */
export interface TransferLimits {
  /** No byte for this long: 408 (a stalled client, or a part the multipart parser stopped reading). */
  idleTimeoutMs: number;
  /** The whole body must have arrived within this long. */
  deadlineMs: number;
  /** Over any `rateWindowMs`, fewer bytes than this per second: 408 (slowloris). 0 disables. */
  minBytesPerSecond: number;
  rateWindowMs: number;
}

/**
 * Rejects with UPLOAD_TIMEOUT when the body stalls (no byte for `idleTimeoutMs`: a client that stops
 * sending, or a body the multipart parser stops reading: a part without Content-Disposition over 16 KB
 * stalls @fastify/busboy), trickles (under `minBytesPerSecond` over the last `rateWindowMs`: a slowloris
 * holding a socket and a temporary file), or takes longer than `deadlineMs` in all. Reads the socket's byte
 * count; adds no listener.
 */
function transferWatchdog(req: FastifyRequest, limits: TransferLimits): { stalled: Promise<never>; stop(): void } {
  const socket = req.raw.socket as { bytesRead?: unknown } | undefined;
  const { idleTimeoutMs, deadlineMs, minBytesPerSecond, rateWindowMs } = limits;
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    if (typeof socket?.bytesRead !== 'number') return; // inject(): no real socket, nothing can stall
    const started = Date.now();
    let last = socket.bytesRead;
    let lastChange = started;
    // (time, bytes read) at each tick of the last rate window, oldest first.
    const samples: { at: number; bytes: number }[] = [{ at: started, bytes: last }];
    const refuse = (message: string) => reject(new ApiError('UPLOAD_TIMEOUT', message, { connection: 'close' }));
    const tick = Math.max(50, Math.min(1000, Math.min(idleTimeoutMs, deadlineMs, rateWindowMs) / 4));
    timer = setInterval(() => {
      const now = Date.now();
      const bytes = socket.bytesRead as number;
      if (bytes !== last) {
        last = bytes;
        lastChange = now;
      }
      if (now - started >= deadlineMs) return refuse(`The upload took longer than ${deadlineMs / 1000} s`);
      if (now - lastChange >= idleTimeoutMs) {
        return refuse(`The upload stalled: no data for ${idleTimeoutMs / 1000} s`);
      }
      if (minBytesPerSecond <= 0) return;
      samples.push({ at: now, bytes });
      // Keep the newest sample at least a window old as the reference, and nothing older.
      while (samples.length > 1 && now - samples[1]!.at >= rateWindowMs) samples.shift();
      const ref = samples[0]!;
      if (now - ref.at < rateWindowMs) return;
      if (bytes - ref.bytes < (minBytesPerSecond * (now - ref.at)) / 1000) {
        refuse(`The upload is too slow: under ${minBytesPerSecond} bytes/s over ${rateWindowMs / 1000} s`);
      }
    }, tick);
  });
  return { stalled, stop: () => clearInterval(timer) };
}

/**
 * Streams the one file of a multipart request into storage's staging area under `maxBytes` and the transfer
 * limits, and collects the form fields. On any refusal the staged file is deleted before the error is thrown.
 */
export async function receiveUpload(
  req: FastifyRequest,
  storage: Storage,
  limits: TransferLimits & { maxBytes: number },
): Promise<ReceivedUpload> {
  if (!req.isMultipart()) throw new ApiError('UPLOAD_NOT_MULTIPART');
  const { maxBytes } = limits;
  const watchdog = transferWatchdog(req, limits);
  try {
    const reader: PartReader = {};
    const reading = readParts(req, storage, maxBytes, reader);
    try {
      return await Promise.race([reading, watchdog.stalled]);
    } catch (err) {
      // Stalled or too slow: end the file being staged (its partial file is removed) and drop what the reading keeps.
      reader.file?.destroy(err as Error);
      reading.then(
        (r) => r.staged.discard(),
        () => {},
      );
      throw err;
    }
  } finally {
    watchdog.stop();
  }
}

/** The file stream being read, so a stalled upload can be ended from outside. */
interface PartReader {
  file?: Readable;
}

async function readParts(
  req: FastifyRequest,
  storage: Storage,
  maxBytes: number,
  reader: PartReader,
): Promise<ReceivedUpload> {
  let staged: StagedObject | undefined;
  const fields: Record<string, string> = {};
  try {
    const parts = req.parts({
      limits: {
        fileSize: maxBytes,
        files: 1,
        fields: 10,
        fieldSize: 4096,
        fieldNameSize: 100,
        parts: 12,
        headerPairs: 100,
      },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        reader.file = part.file;
        staged = await storage.stage(part.file);
        reader.file = undefined;
        // Busboy cuts a file at fileSize without an error on the stream itself.
        if (part.file.truncated) throw new ApiError('UPLOAD_TOO_LARGE', `The file is larger than ${maxBytes} bytes`);
        continue;
      }
      if (part.valueTruncated || part.fieldnameTruncated) {
        throw new ApiError('UPLOAD_FIELD_INVALID', `${fieldLabel(part.fieldname)} is too long`);
      }
      const value = String(part.value);
      const prev = fields[part.fieldname];
      if (prev !== undefined && !REPEATABLE.has(part.fieldname)) {
        throw new ApiError('UPLOAD_FIELD_INVALID', `${fieldLabel(part.fieldname)} is given twice`);
      }
      fields[part.fieldname] = prev === undefined ? value : `${prev},${value}`;
    }
  } catch (err) {
    await staged?.discard();
    throw mapMultipartError(err, maxBytes);
  }
  if (!staged || staged.size === 0) {
    await staged?.discard();
    throw new ApiError('UPLOAD_EMPTY');
  }
  return { staged, fields };
}

function mapMultipartError(err: unknown, maxBytes: number): unknown {
  if (err instanceof ApiError) return err;
  switch ((err as { code?: string }).code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return new ApiError('UPLOAD_TOO_LARGE', `The file is larger than ${maxBytes} bytes`);
    case 'FST_FILES_LIMIT':
      return new ApiError('UPLOAD_TOO_MANY_FILES');
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_PROTO_VIOLATION':
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return new ApiError('UPLOAD_FIELD_INVALID', (err as Error).message);
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new ApiError('UPLOAD_NOT_MULTIPART');
    default:
      // Malformed multipart data, as busboy words it (its errors carry no code).
      if (err instanceof Error && !('code' in err) && BUSBOY_MALFORMED.test(err.message)) {
        return new ApiError('UPLOAD_NOT_MULTIPART', `Malformed multipart body: ${err.message.slice(0, 120)}`);
      }
      return err;
  }
}
