// conmon's attach output, as the addon's packet relay delivers it: each
// packet is a 4-byte big-endian length, then the packet, whose first byte
// says which stream the rest belongs to (2 stdout, 3 stderr; with a
// terminal everything is stdout).
import type { Readable, Writable } from 'node:stream';

const stdoutId = 2;
const stderrId = 3;

/**
 * Routes framed packets from `source` to the writables, pausing `source`
 * while a writable is full. Resolves when `source` ends or closes.
 */
export function routeAttachOutput(source: Readable, out: { stdout?: Writable | undefined; stderr?: Writable | undefined }): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  return new Promise((resolve) => {
    source.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let full: Writable | undefined;
      while (pending.length >= 4) {
        const size = pending.readUInt32BE(0);
        if (pending.length < 4 + size) break;
        const packet = pending.subarray(4, 4 + size);
        pending = pending.subarray(4 + size);
        if (size === 0) continue;
        const target = packet[0] === stderrId ? out.stderr : packet[0] === stdoutId ? out.stdout : undefined;
        if (target && !target.destroyed && !target.write(packet.subarray(1))) full = target;
      }
      if (full) {
        source.pause();
        full.once('drain', () => source.resume());
      }
    });
    source.once('end', resolve);
    source.once('close', resolve);
  });
}
