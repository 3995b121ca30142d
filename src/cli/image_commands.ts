// skiff pull / images / rmi: CRI ImageService calls over the daemon's socket.
import { ImageServiceName } from '../proto/cri.js';
import type { Image } from '../proto/cri.js';
import type { PullEvent } from '../proto/skiff.js';
import { DaemonClient } from './daemon_client.js';

/** Pulls through the daemon, showing per-layer progress while PullImage runs. */
export async function pullCommand(socket: string, image: string, out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const client = new DaemonClient(socket);
  const view = out.isTTY ? new LiveView(out) : new PlainView(out);
  const started = Date.now();
  const watch = client.stream<PullEvent>('skiff.v1.PullProgress', 'Watch', { image }, (event) => view.update(event));
  watch.done.catch(() => undefined);
  try {
    const reply = await client.unary<{ imageRef: string }>(ImageServiceName, 'PullImage', { image: { image } });
    view.finish();
    out.write(`pulled ${image} in ${((Date.now() - started) / 1000).toFixed(1)}s: ${reply.imageRef}\n`);
    return 0;
  } catch (err) {
    view.finish();
    process.stderr.write(`skiff pull: ${(err as { details?: string }).details ?? String(err)}\n`);
    return 1;
  } finally {
    watch.cancel();
    client.close();
  }
}

export async function imagesCommand(socket: string, out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const client = new DaemonClient(socket);
  try {
    const { images } = await client.unary<{ images: Image[] }>(ImageServiceName, 'ListImages', {});
    const rows = [['IMAGE', 'TAG', 'IMAGE ID', 'SIZE']];
    for (const image of images) {
      const tags = image.repoTags.length ? image.repoTags : ['<none>:<none>'];
      for (const tag of tags) {
        const at = tag.lastIndexOf(':');
        rows.push([tag.slice(0, at), tag.slice(at + 1), image.id.replace('sha256:', '').slice(0, 13), formatBytes(image.size)]);
      }
    }
    const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
    for (const row of rows) out.write(row.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd() + '\n');
    return 0;
  } finally {
    client.close();
  }
}

export async function rmiCommand(socket: string, names: string[], out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const client = new DaemonClient(socket);
  let failed = 0;
  try {
    for (const name of names) {
      try {
        await client.unary(ImageServiceName, 'RemoveImage', { image: { image: name } });
        out.write(`removed ${name}\n`);
      } catch (err) {
        failed++;
        process.stderr.write(`skiff rmi ${name}: ${(err as { details?: string }).details ?? String(err)}\n`);
      }
    }
  } finally {
    client.close();
  }
  return failed ? 1 : 0;
}

interface LayerLine {
  state: string;
  done: number;
  total: number;
}

/** Redraws one line per layer plus a total, in place. */
class LiveView {
  private readonly layers = new Map<string, LayerLine>();
  private drawn = 0;
  private readonly started = Date.now();

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(event: PullEvent): void {
    if (event.layer === '') return;
    this.layers.set(event.layer, { state: event.state, done: event.doneBytes, total: event.totalBytes });
    this.draw();
  }

  finish(): void {
    this.draw();
  }

  private draw(): void {
    const lines: string[] = [];
    let done = 0;
    let total = 0;
    for (const [digest, l] of this.layers) {
      done += l.done;
      total += l.total;
      lines.push(`${digest.slice(7, 19)}  ${l.state.padEnd(11)} ${formatBytes(l.done).padStart(9)} / ${formatBytes(l.total)}`);
    }
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    lines.push(`total         ${formatBytes(done).padStart(21)} / ${formatBytes(total)}  ${formatBytes(done / seconds)}/s`);
    if (this.drawn) this.out.write(`\x1b[${this.drawn}A`);
    this.out.write(lines.map((l) => `\x1b[2K${l}\n`).join(''));
    this.drawn = lines.length;
  }
}

/** One line per state change: logs and pipes get no cursor tricks. */
class PlainView {
  private readonly states = new Map<string, string>();

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(event: PullEvent): void {
    if (event.layer === '' || this.states.get(event.layer) === event.state) return;
    this.states.set(event.layer, event.state);
    this.out.write(`${event.layer} ${event.state} ${event.doneBytes}/${event.totalBytes}\n`);
  }

  finish(): void {}
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
