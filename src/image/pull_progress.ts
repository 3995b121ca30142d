import { EventEmitter } from 'node:events';

export type PullState = 'resolving' | 'waiting' | 'downloading' | 'exists' | 'done' | 'failed';

export interface PullEventData {
  /** The image name as the caller gave it to PullImage. */
  image: string;
  /** Layer digest, or '' for the pull as a whole. */
  layer: string;
  state: PullState;
  doneBytes: number;
  totalBytes: number;
}

/** Byte counts are reported at most this often per layer; state changes at once. */
const byteReportIntervalMs = 100;

/** Fan-out of pull progress to whoever watches (the `skiff pull` CLI). Costs nothing without listeners. */
export class PullProgress {
  private readonly emitter = new EventEmitter();
  private readonly lastReport = new Map<string, number>();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  report(event: PullEventData): void {
    if (this.emitter.listenerCount('event') === 0) return;
    const key = `${event.image}\0${event.layer}`;
    if (event.state === 'downloading') {
      const now = Date.now();
      if (now - (this.lastReport.get(key) ?? 0) < byteReportIntervalMs) return;
      this.lastReport.set(key, now);
    } else {
      this.lastReport.delete(key);
    }
    this.emitter.emit('event', event);
  }

  /** Calls `listener` for every event until the returned function is called. */
  subscribe(listener: (event: PullEventData) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
