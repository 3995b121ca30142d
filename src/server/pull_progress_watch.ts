// skiff.v1.PullProgress/Watch: live pull progress for `skiff pull`.
import type { PullEventData } from '../image/pull_progress.js';
import type { Init } from '../proto/cri.js';
import type { PullEvent } from '../proto/skiff.js';
import type { ServerContext, StreamSink } from './rpc.js';

type WatchMethod = { kind: 'serverStream'; request: { image: string }; response: PullEvent };

export function pullProgressHandlers(ctx: ServerContext): Record<string, unknown> {
  return {
    Watch: async (request: { image: string }, send: StreamSink<WatchMethod>, signal: AbortSignal): Promise<void> => {
      const queue: Init<PullEvent>[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = ctx.progress.subscribe((event: PullEventData) => {
        if (request.image !== '' && event.image !== request.image) return;
        // A slow watcher loses intermediate byte counts, never state changes.
        if (event.state === 'downloading' && queue.length > 256) return;
        queue.push(event);
        wake?.();
      });
      try {
        while (!signal.aborted) {
          const event = queue.shift();
          if (event) await send(event);
          else await new Promise<void>((resolve) => {
            wake = resolve;
            signal.addEventListener('abort', () => resolve(), { once: true });
          });
          wake = undefined;
        }
      } finally {
        unsubscribe();
      }
    },
  };
}
