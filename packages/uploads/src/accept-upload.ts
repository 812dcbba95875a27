import { randomBytes } from 'node:crypto';
import type { Producer } from '@bullpen/jobs';
import type { StagedObject, Storage } from '@bullpen/storage';
import { IdempotencyConflictError, IdempotencyInProgressError } from './errors.ts';
import type { IdempotencyLease, IdempotencyStore } from './idempotency.ts';
import { type AppRegistry, type ImageFormat, imageResize, type VariantWidth } from './jobs.ts';
import { deleteUploadFiles, resizeJobId, uploadKeys } from './keys.ts';
import type { UploadRecord, UploadRecords } from './records.ts';

export interface AcceptUploadDeps {
  storage: Storage;
  records: UploadRecords;
  producer: Producer<AppRegistry>;
  /** Needed only for requests with an `idempotencyKey`. */
  idempotency?: IdempotencyStore;
}

/** An upload whose bytes are staged and whose type and fields are checked. */
export interface UploadRequest {
  staged: StagedObject;
  /** Default: a new random id. Give one only for an upload that has none yet (an import, a test). */
  uploadId?: string;
  /** The type sniffed from the bytes. */
  format: ImageFormat;
  sizes: readonly VariantWidth[];
  callbackUrl?: string;
  requestId?: string;
  /** A client's Idempotency-Key: a retry of the same request gets the first answer and creates nothing. */
  idempotencyKey?: string;
  /** What else makes two requests with one key the same, besides the bytes (the form fields, say). */
  fingerprint?: string;
  /**
   * Checks the staged image after the key is claimed and before anything is stored (dimensions, damage)
   * and returns its displayed size; throws to refuse it.
   */
  probe(staged: StagedObject): Promise<{ width: number; height: number }>;
}

export interface AcceptedUpload {
  uploadId: string;
  jobId: string;
  /** The first answer to this Idempotency-Key, given again: nothing new was stored. */
  replayed: boolean;
}

const IDEMPOTENCY_SCOPE = 'uploads';

/** A new upload id: 16 random bytes, base64url (22 characters). */
export const newUploadId = () => randomBytes(16).toString('base64url');

/**
 * Accepts a staged upload: claims its Idempotency-Key (a lease renewed while this works), probes the image,
 * commits the original under a server-made key, writes the status record and enqueues `image.resize` (in one
 * round trip), then stores the key's answer. All or nothing: when any step refuses or fails, what the earlier
 * steps made is removed (the staged file, the original, the record, the job, the claim) and the error is
 * rethrown.
 */
export async function acceptUpload(deps: AcceptUploadDeps, req: UploadRequest): Promise<AcceptedUpload> {
  const { records, producer, idempotency } = deps;
  const { staged } = req;
  const key = req.idempotencyKey;
  let lease: IdempotencyLease | undefined;
  let committed: string | undefined;
  let enqueueSent = false;
  try {
    if (key !== undefined) {
      if (!idempotency) throw new TypeError('acceptUpload: an idempotencyKey needs deps.idempotency');
      // The bytes' hash is needed only here: a staged upload computes it when first asked (see StagedObject).
      const fingerprint = `${staged.sha256}:${req.fingerprint ?? ''}`;
      const claim = await idempotency.claim(IDEMPOTENCY_SCOPE, key, fingerprint);
      switch (claim.kind) {
        case 'new':
          lease = claim.lease;
          break;
        case 'replay':
          await staged.discard();
          return { ...claim.answer, replayed: true };
        case 'conflict':
          throw new IdempotencyConflictError();
        case 'in-progress':
          throw new IdempotencyInProgressError();
        default: {
          const never: never = claim;
          throw new Error(`unexpected claim ${JSON.stringify(never)}`);
        }
      }
    }
    const { width, height } = await req.probe(staged);
    // The probe may take seconds: the key must still be this request's before anything is stored.
    if (lease && !(await lease.confirm())) throw new IdempotencyInProgressError();
    const uploadId = req.uploadId ?? newUploadId();
    const originalKey = uploadKeys.original(uploadId);
    await staged.commit(originalKey);
    committed = uploadId;
    const now = new Date().toISOString();
    const record: UploadRecord = {
      uploadId,
      status: 'queued',
      progress: 0,
      format: req.format,
      width,
      height,
      bytes: staged.size,
      originalKey,
      sizes: [...req.sizes],
      variants: [],
      jobId: resizeJobId(uploadId),
      ...(req.requestId ? { requestId: req.requestId } : {}),
      hasCallback: Boolean(req.callbackUrl),
      createdAt: now,
      updatedAt: now,
    };
    // The record and the job in one round trip: sent back to back on one connection (one slot, so one node, on
    // a cluster), Redis runs the HSET before the add, so a worker that takes the job at once finds the record.
    const creating = records.create(record);
    const enqueuing = producer.enqueue(
      'image.resize',
      {
        uploadId,
        originalKey,
        format: req.format,
        width,
        height,
        sizes: [...req.sizes],
        ...(req.callbackUrl ? { callbackUrl: req.callbackUrl } : {}),
      },
      // The upload id was made above: no job can have it yet, so the enqueue is one command.
      { newKey: req.uploadId === undefined, ...(req.requestId ? { requestId: req.requestId } : {}) },
    );
    enqueueSent = true;
    const [created, enqueued] = await Promise.allSettled([creating, enqueuing]);
    // The record's failure first: it is what a client retries on (REDIS_UNAVAILABLE), as before the pipelining.
    if (created.status === 'rejected') throw created.reason;
    if (enqueued.status === 'rejected') throw enqueued.reason;
    const accepted = { uploadId, jobId: enqueued.value.jobId };
    await lease?.complete(accepted);
    return { ...accepted, replayed: false };
  } catch (err) {
    await staged.discard();
    if (committed) await removeUpload(deps, committed, enqueueSent);
    await lease?.release();
    throw err;
  }
}

/**
 * Removes what an accepted upload made: its job (when the enqueue was sent: it may have landed whatever the
 * answer), files and record. Best effort: the error that caused it is the one rethrown.
 */
async function removeUpload(deps: AcceptUploadDeps, uploadId: string, withJob: boolean): Promise<void> {
  await Promise.allSettled([
    // BullMQ removes a job only when no worker holds its lock: one already taken finds no record or original.
    ...(withJob ? [deps.producer.queue(imageResize.queue).remove(resizeJobId(uploadId))] : []),
    deleteUploadFiles(deps.storage, uploadId),
    deps.records.delete(uploadId),
  ]);
}
