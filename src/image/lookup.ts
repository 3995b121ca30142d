import type { ImageRecord, ImageStore } from '../storage/image_store.js';
import { formatReference, parseReference } from './reference.js';

/**
 * The stored image a CRI image name refers to: an id (or unique id prefix),
 * a repo tag or repo digest as stored, or any reference that normalises to one
 * (`busybox` → docker.io/library/busybox:latest).
 */
export function findImage(store: ImageStore, name: string): ImageRecord | undefined {
  const direct = store.find(name);
  if (direct) return direct;
  let normalized: string;
  try {
    const ref = parseReference(name);
    normalized = formatReference(ref);
    if (ref.tag && ref.digest) {
      // name:tag@digest: the digest is what identifies the content.
      return store.find(formatReference({ domain: ref.domain, path: ref.path, digest: ref.digest }));
    }
  } catch {
    return undefined;
  }
  return store.find(normalized);
}
