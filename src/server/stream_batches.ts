// How the Stream* RPCs cut a list into messages: each batch stays far below
// the 16 MiB a kubelet or crictl accepts, whatever the size of single items
// (label and annotation maps can be large).

/**
 * Bytes per batch, measured as the items' UTF-8 JSON, which protobuf rarely
 * exceeds: an eighth of the kubelet's limit, and under the 4 MiB a client
 * with gRPC's default receive limit accepts.
 */
const batchBytes = 2 * 1024 * 1024;
/** Items per batch, so that many small items still arrive in steps. */
const batchItems = 512;

/** Groups `items` in order into non-empty batches within both bounds (a single oversized item goes alone). */
export function batches<T>(items: readonly T[], maxBytes = batchBytes, maxItems = batchItems): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = Buffer.byteLength(JSON.stringify(item) ?? '');
    if (current.length > 0 && (bytes + size > maxBytes || current.length >= maxItems)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Sends `items` batch by batch, waiting for the transport between batches; stops if the call goes away. */
export async function sendInBatches<T>(items: readonly T[], send: (batch: T[]) => Promise<void>, signal: AbortSignal): Promise<void> {
  for (const batch of batches(items)) {
    if (signal.aborted) return;
    await send(batch);
  }
}
