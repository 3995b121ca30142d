// ImageFsInfo: bytes and inodes under the layer store, for the kubelet's image GC.
import { dirUsage } from '../native/index.js';
import type { ImageServiceMethods } from '../proto/cri.js';
import type { ImageHandlers, ServerContext, UnaryHandler } from './rpc.js';

export function imageFsInfoHandlers(ctx: ServerContext): ImageHandlers {
  return { ImageFsInfo: imageFsInfo(ctx) };
}

function imageFsInfo(ctx: ServerContext): UnaryHandler<ImageServiceMethods['ImageFsInfo']> {
  return async () => {
    const usage = await dirUsage(ctx.layers.dir);
    return {
      imageFilesystems: [
        {
          timestamp: Date.now() * 1e6,
          fsId: { mountpoint: ctx.layers.dir },
          usedBytes: { value: usage.bytes },
          inodesUsed: { value: usage.inodes },
        },
      ],
      containerFilesystems: [],
    };
  };
}
