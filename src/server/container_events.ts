// GetContainerEvents: container and sandbox lifecycle events for the kubelet's
// evented PLEG. Each event carries the pod's status and the statuses of all
// its containers as they were when the change was recorded.
//
// Slow readers: each subscriber has a queue of at most `subscriberQueueLimit`
// events. A subscriber that falls that far behind is cut off with
// RESOURCE_EXHAUSTED instead of silently losing events: the kubelet answers a
// broken stream by relisting and subscribing again, which repairs its cache,
// whereas a dropped event would leave it wrong until the next periodic relist.
import { status } from '@grpc/grpc-js';
import { ContainerEventType, type ContainerEventResponse, type Init, type RuntimeServiceMethods } from '../proto/cri.js';
import type { LifecycleEvent, LifecycleEventKind } from '../state/events.js';
import { containerStatusOf } from './container_status.js';
import { podSandboxStatusOf } from './pod_status.js';
import { RpcError, type RuntimeHandlers, type ServerContext, type ServerStreamHandler } from './rpc.js';

/** CRI-O buffers 1000 events; one event is a few kB, so this caps a stuck reader at a few MB. */
export const subscriberQueueLimit = 1000;

const eventTypes: Record<LifecycleEventKind, ContainerEventType> = {
  created: ContainerEventType.CONTAINER_CREATED_EVENT,
  started: ContainerEventType.CONTAINER_STARTED_EVENT,
  stopped: ContainerEventType.CONTAINER_STOPPED_EVENT,
  deleted: ContainerEventType.CONTAINER_DELETED_EVENT,
};

export function containerEventHandlers(ctx: ServerContext): RuntimeHandlers {
  // Built once per event however many subscribers there are, while the records still match it.
  const built = new WeakMap<LifecycleEvent, Init<ContainerEventResponse>>();
  const response = (event: LifecycleEvent): Init<ContainerEventResponse> => {
    let reply = built.get(event);
    if (!reply) {
      reply = toResponse(ctx, event);
      built.set(event, reply);
    }
    return reply;
  };
  return { GetContainerEvents: getContainerEvents(ctx, response) };
}

function getContainerEvents(
  ctx: ServerContext,
  response: (event: LifecycleEvent) => Init<ContainerEventResponse>,
): ServerStreamHandler<RuntimeServiceMethods['GetContainerEvents']> {
  return async (_request, send, signal) => {
    const events = ctx.pods.events;
    if (!events) throw new RpcError(status.UNAVAILABLE, 'GetContainerEvents: this daemon publishes no lifecycle events');
    const queue: Init<ContainerEventResponse>[] = [];
    let overflowed = false;
    let wake: (() => void) | undefined;
    const unsubscribe = events.subscribe((event) => {
      if (queue.length >= subscriberQueueLimit) {
        overflowed = true;
        queue.length = 0;
        unsubscribe();
      } else {
        queue.push(response(event));
      }
      wake?.();
    });
    // One abort listener for the whole call (a listener per wait would pile up on a long-lived stream).
    let stopWaiting: (() => void) | undefined;
    const onAbort = (): void => stopWaiting?.();
    signal.addEventListener('abort', onAbort, { once: true });
    events.closing.addEventListener('abort', onAbort, { once: true });
    const until = (done: Promise<void>): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        stopWaiting = resolve;
        done.then(resolve, reject);
      });
    try {
      while (!signal.aborted && !events.closing.aborted) {
        if (overflowed) {
          throw new RpcError(
            status.RESOURCE_EXHAUSTED,
            `GetContainerEvents: the reader fell ${subscriberQueueLimit} events behind and was disconnected; relist and subscribe again`,
          );
        }
        const next = queue.shift();
        // A cancelled call may never drain: waits end when the call goes away.
        if (next) await until(send(next));
        else {
          await until(new Promise<void>((resolve) => (wake = resolve)));
          wake = undefined;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      events.closing.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  };
}

function toResponse(ctx: ServerContext, event: LifecycleEvent): Init<ContainerEventResponse> {
  const pod = event.pod ?? ctx.pods.sandboxes.get(event.podId);
  const members = ctx.containers.containers.list().filter((c) => c.podId === event.podId && c.phase !== 'creating');
  return {
    containerId: event.containerId,
    containerEventType: eventTypes[event.kind],
    createdAt: event.at,
    podSandboxStatus: pod ? podSandboxStatusOf(pod) : null,
    containersStatuses: members.map(containerStatusOf),
  };
}
