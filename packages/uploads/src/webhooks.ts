import type { PayloadInput } from '@bullpen/jobs';
import type { AppRegistry } from './jobs.ts';
import type { VariantInfo } from './records.ts';

type WebhookJob = PayloadInput<AppRegistry, 'webhook.deliver'>;

/** The path of an upload's status, as webhook bodies name it (relative: receivers know the API's origin). */
const statusPath = (uploadId: string) => `/uploads/${uploadId}`;

/** `upload.completed`: every variant with its path. */
export function uploadCompletedWebhook(url: string, uploadId: string, variants: readonly VariantInfo[]): WebhookJob {
  return {
    url,
    event: 'upload.completed',
    subjectId: uploadId,
    body: {
      uploadId,
      status: 'done',
      statusPath: statusPath(uploadId),
      variants: variants.map((v) => ({
        name: v.name,
        format: v.format,
        width: v.width,
        height: v.height,
        bytes: v.bytes,
        path: `${statusPath(uploadId)}/variants/${v.name}`,
      })),
    },
  };
}

/** `upload.failed`: the upload is dead (every attempt failed, or the failure was permanent). */
export function uploadFailedWebhook(url: string, uploadId: string, code: string): WebhookJob {
  return {
    url,
    event: 'upload.failed',
    subjectId: uploadId,
    body: { uploadId, status: 'dead', statusPath: statusPath(uploadId), error: { code } },
  };
}
