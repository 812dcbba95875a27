import { defineRegistry } from '../define.ts';
import { imageResize } from './image-resize.ts';
import { webhookDeliver } from './webhook-deliver.ts';

export { type CallbackCheck, checkCallbackTarget, isPrivateAddress, privateSafeLookup } from './callback-target.ts';
export { IMAGE_FORMATS, type ImageFormat, imageResize, imageResizePayload, VARIANT_WIDTHS } from './image-resize.ts';
export { webhookDeliver, webhookDeliverPayload } from './webhook-deliver.ts';

/** Bullpen's own jobs: what the API enqueues, the worker runs and the dashboard shows. */
export const registry = defineRegistry([imageResize, webhookDeliver]);
export type AppRegistry = typeof registry;
