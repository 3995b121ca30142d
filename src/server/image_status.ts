// ImageStatus, ListImages and StreamImages: read-only views of the image store.
import type { ImageRecord } from '../storage/image_store.js';
import { findImage } from '../image/lookup.js';
import { formatReference, parseReference } from '../image/reference.js';
import type { Image, ImageServiceMethods, Init } from '../proto/cri.js';
import { invalidArgument, type ImageHandlers, type ServerContext, type ServerStreamHandler, type UnaryHandler } from './rpc.js';
import { sendInBatches } from './stream_batches.js';

export function imageStatusHandlers(ctx: ServerContext): ImageHandlers {
  return { ImageStatus: imageStatus(ctx), ListImages: listImages(ctx), StreamImages: streamImages(ctx) };
}

function imageStatus(ctx: ServerContext): UnaryHandler<ImageServiceMethods['ImageStatus']> {
  return async (request) => {
    const name = request.image?.image ?? '';
    if (name === '') throw invalidArgument('image.image: required');
    const record = findImage(ctx.images, name);
    // The CRI answers "not present" with an empty image, not an error.
    if (!record) return {};
    const image = toCriImage(record, ctx);
    if (!request.verbose) return { image };
    const { manifest, config } = await ctx.images.readBlobs(record.id);
    return {
      image,
      info: {
        manifest: manifest.toString('utf8'),
        config: config.toString('utf8'),
        info: JSON.stringify({ size: record.size, layers: record.layers, manifestDigest: record.manifestDigest, pulledAt: record.pulledAt }),
      },
    };
  };
}

function listImages(ctx: ServerContext): UnaryHandler<ImageServiceMethods['ListImages']> {
  return async (request) => ({ images: matching(ctx, request.filter?.image?.image ?? '').map((r) => toCriImage(r, ctx)) });
}

/** ListImages in non-empty batches, for nodes with more images than one reply holds. */
function streamImages(ctx: ServerContext): ServerStreamHandler<ImageServiceMethods['StreamImages']> {
  return async (request, send, signal) => {
    const images = matching(ctx, request.filter?.image?.image ?? '').map((r) => toCriImage(r, ctx));
    await sendInBatches(images, (batch) => send({ images: batch }), signal);
  };
}

function matching(ctx: ServerContext, filter: string): ImageRecord[] {
  if (filter === '') return ctx.images.list();
  const record = findImage(ctx.images, filter);
  return record ? [record] : [];
}

/** A stored image as the kubelet reads it: uid or username from the config's User. */
export function toCriImage(record: ImageRecord, ctx: ServerContext): Init<Image> {
  const user = record.user.split(':')[0] ?? '';
  const image: Init<Image> = {
    id: record.id,
    repoTags: record.repoTags,
    repoDigests: record.repoDigests,
    size: record.size,
    spec: { image: record.id },
    pinned: record.repoTags.includes(pauseTag(ctx)),
  };
  if (/^\d+$/.test(user)) image.uid = { value: Number(user) };
  else if (user !== '') image.username = user;
  return image;
}

function pauseTag(ctx: ServerContext): string {
  try {
    return formatReference(parseReference(ctx.config.pause.image));
  } catch {
    return ctx.config.pause.image;
  }
}
