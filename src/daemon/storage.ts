import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { ImagePuller } from '../image/pull.js';
import { PullProgress } from '../image/pull_progress.js';
import { ImageStore } from '../storage/image_store.js';
import { LayerStore } from '../storage/layer_store.js';

/**
 * Opens the image and layer stores under the root, dropping whatever an
 * interrupted run left half-done: staging dirs, and layers no image uses.
 */
export async function openImageStorage(
  config: SkiffConfig,
  log: Logger,
): Promise<{ images: ImageStore; layers: LayerStore; puller: ImagePuller; progress: PullProgress }> {
  const layers = new LayerStore(join(config.root, 'overlay'), log);
  const images = new ImageStore(join(config.root, 'images'), log);
  await layers.open();
  await images.open();
  const leaked = await layers.removeUnused(images.referencedLayers());
  if (leaked.length) log.info({ layers: leaked.length }, 'removed layers no image uses');
  const progress = new PullProgress();
  return { images, layers, progress, puller: new ImagePuller(config, images, layers, progress, log) };
}
