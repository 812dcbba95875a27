import type { CancelOutcome, JobAdmin } from '@bullpen/jobs';
import type { Storage } from '@bullpen/storage';
import { imageResize } from './jobs.ts';
import { deleteUploadFiles, resizeJobId } from './keys.ts';
import type { UploadRecord, UploadRecords } from './records.ts';

export interface CancelUploadDeps {
  records: UploadRecords;
  storage: Storage;
  admin: Pick<JobAdmin, 'cancel'>;
}

export interface CancelledUpload {
  record: UploadRecord;
  /** What became of the resize job: removed (it had not started), signalled (it was running), or finished. */
  job: CancelOutcome;
}

/**
 * Cancels an upload and removes what was stored of it: the record turns `cancelled` first (so a worker's late
 * progress or `done` is refused), then the resize job is cancelled wherever it is (removed when it has not started,
 * aborted on the worker running it, waiting up to `waitMs` for it to stop), then the original and every variant
 * are deleted. Idempotent: a second call finds it cancelled and deletes nothing more. Undefined for an unknown
 * upload. A variant a stopping worker was writing at that very moment may land after the delete (the worker checks
 * its signal before each write, so at most that one).
 */
export async function cancelUpload(
  deps: CancelUploadDeps,
  uploadId: string,
  opts: { actor: string; waitMs?: number },
): Promise<CancelledUpload | undefined> {
  const existing = await deps.records.get(uploadId);
  if (!existing) return undefined;
  if (existing.status !== 'cancelled') {
    await deps.records.update(uploadId, { status: 'cancelled', variants: [] }, { unless: ['cancelled'] });
  }
  const report = await deps.admin.cancel([resizeJobId(uploadId)], {
    actor: opts.actor,
    queue: imageResize.queue,
    waitMs: opts.waitMs ?? 10_000,
  });
  await deleteUploadFiles(deps.storage, uploadId);
  await deps.records.clearError(uploadId);
  const record = (await deps.records.get(uploadId)) ?? { ...existing, status: 'cancelled', variants: [] };
  return { record, job: report.outcomes[0]! };
}
