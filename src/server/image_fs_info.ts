// ImageFsInfo: bytes and inodes of the layer store, for the kubelet's image GC.
import type { ImageServiceMethods } from '../proto/cri.js';
import type { ImageHandlers, ServerContext, UnaryHandler } from './rpc.js';

export function imageFsInfoHandlers(ctx: ServerContext): ImageHandlers {
  return { ImageFsInfo: imageFsInfo(ctx) };
}

function imageFsInfo(ctx: ServerContext): UnaryHandler<ImageServiceMethods['ImageFsInfo']> {
  return async () => {
    const usage = await ctx.layers.usage();
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
