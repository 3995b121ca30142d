// RemoveImage: by id, tag or digest; a shared tag goes alone, the last one takes the image.
import { findImage } from '../image/lookup.js';
import { formatReference, parseReference } from '../image/reference.js';
import type { ImageServiceMethods } from '../proto/cri.js';
import { invalidArgument, type ImageHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function imageRemoveHandlers(ctx: ServerContext): ImageHandlers {
  return { RemoveImage: removeImage(ctx) };
}

function removeImage(ctx: ServerContext): UnaryHandler<ImageServiceMethods['RemoveImage']> {
  return async (request) => {
    const name = request.image?.image ?? '';
    if (name === '') throw invalidArgument('image.image: required');
    const record = findImage(ctx.images, name);
    // Removing what is not there succeeds: the CRI asks for idempotence.
    if (!record) return {};
    const tag = tagNamed(name);
    if (tag && record.repoTags.includes(tag) && record.repoTags.length > 1) {
      await ctx.images.removeTag(record.id, tag);
      return {};
    }
    await ctx.images.remove(record.id);
    const removed = await ctx.layers.removeUnused(ctx.images.referencedLayers());
    ctx.log.info({ image: record.id, layersRemoved: removed.length }, 'image removed');
    return {};
  };
}

/** The repo tag `name` stands for, if it names a tag (not an id or digest). */
function tagNamed(name: string): string | undefined {
  try {
    const ref = parseReference(name);
    return ref.tag && !ref.digest ? formatReference(ref) : undefined;
  } catch {
    return undefined;
  }
}
