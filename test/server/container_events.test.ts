// GetContainerEvents against real containers (runc under conmon, CNI bridge,
// busybox from a real registry), and the bound on a slow reader's queue.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { ContainerEventType, ContainerState, PodSandboxState, RuntimeServiceName } from '../../src/proto/cri.js';
import { containerEventHandlers, subscriberQueueLimit } from '../../src/server/container_events.js';
import type { ServerContext } from '../../src/server/rpc.js';
import { LifecycleEvents } from '../../src/state/events.js';
import type { ImageDaemon } from '../helpers/image_daemon.js';
import { containerConfig, podConfig, startRuntimeDaemon, type RuntimeDaemon } from '../helpers/runtime_daemon.js';

interface Event {
  containerId: string;
  containerEventType: number;
  createdAt: number;
  podSandboxStatus: { id: string; state: number; metadata: { uid: string } } | null;
  containersStatuses: { id: string; state: number; exitCode: number }[];
}

describe('GetContainerEvents on real containers', () => {
  let fx: RuntimeDaemon;
  let daemon: ImageDaemon;
  const pods: string[] = [];
  const rt = () => daemon.client.runtime;

  before(async () => {
    fx = await startRuntimeDaemon({ suite: 'events', bridge: `skv${process.pid % 10000}`, subnet: '10.231.42.0/24' });
    daemon = fx.daemon;
  });
  after(async () => {
    await fx?.cleanup();
  });

  /** Subscribes; `next(match)` waits for the next event that matches, skipping none silently. */
  function subscribe() {
    const received: Event[] = [];
    const sub = daemon.client.daemon.stream<Event>(RuntimeServiceName, 'GetContainerEvents', {}, (e) => received.push(e));
    sub.done.catch(() => undefined);
    let read = 0;
    return {
      received,
      cancel: sub.cancel,
      async next(): Promise<Event> {
        for (let i = 0; i < 200 && received.length <= read; i++) await sleep(25);
        const event = received[read];
        assert.ok(event, `no event after ${read} (received ${received.length})`);
        read++;
        return event;
      },
    };
  }

  it('pod and container lifecycle: the events in order, each with the pod and container states', async () => {
    const events = subscribe();
    try {
      const pod = podConfig(fx, 'ev-pod');
      const podId = (await rt().RunPodSandbox!({ config: pod })).podSandboxId;
      pods.push(podId);
      const podCreated = await events.next();
      assert.equal(podCreated.containerId, podId);
      assert.equal(podCreated.containerEventType, ContainerEventType.CONTAINER_CREATED_EVENT);
      assert.equal(podCreated.podSandboxStatus?.metadata.uid, pod.metadata.uid);
      const podStarted = await events.next();
      assert.equal(podStarted.containerEventType, ContainerEventType.CONTAINER_STARTED_EVENT);
      assert.equal(podStarted.podSandboxStatus?.state, PodSandboxState.SANDBOX_READY);

      const { containerId } = await rt().CreateContainer!({
        podSandboxId: podId,
        config: containerConfig(fx, 'sleeper', ['sleep', '1000']),
        sandboxConfig: pod,
      });
      await rt().StartContainer!({ containerId });
      await rt().StopContainer!({ containerId, timeout: 0 });
      await rt().RemoveContainer!({ containerId });

      const expected: [ContainerEventType, ContainerState | undefined][] = [
        [ContainerEventType.CONTAINER_CREATED_EVENT, ContainerState.CONTAINER_CREATED],
        [ContainerEventType.CONTAINER_STARTED_EVENT, ContainerState.CONTAINER_RUNNING],
        [ContainerEventType.CONTAINER_STOPPED_EVENT, ContainerState.CONTAINER_EXITED],
        [ContainerEventType.CONTAINER_DELETED_EVENT, undefined],
      ];
      let last = podStarted.createdAt;
      for (const [type, state] of expected) {
        const e = await events.next();
        assert.equal(e.containerId, containerId);
        assert.equal(e.containerEventType, type, `event ${ContainerEventType[e.containerEventType]}, expected ${ContainerEventType[type]}`);
        assert.ok(e.createdAt >= last, 'events are in time order');
        last = e.createdAt;
        assert.equal(e.podSandboxStatus?.id, podId);
        const own = e.containersStatuses.find((s) => s.id === containerId);
        if (state === undefined) assert.equal(own, undefined, 'a deleted container is gone from the statuses');
        else assert.equal(own?.state, state);
      }

      await rt().StopPodSandbox!({ podSandboxId: podId });
      const podStopped = await events.next();
      assert.equal(podStopped.containerId, podId);
      assert.equal(podStopped.containerEventType, ContainerEventType.CONTAINER_STOPPED_EVENT);
      assert.equal(podStopped.podSandboxStatus?.state, PodSandboxState.SANDBOX_NOTREADY);
      await rt().RemovePodSandbox!({ podSandboxId: podId });
      const podDeleted = await events.next();
      assert.equal(podDeleted.containerEventType, ContainerEventType.CONTAINER_DELETED_EVENT);
      assert.equal(podDeleted.containerId, podId);
      // The kubelet drops the pod from its cache on this event, so it must still name the pod.
      assert.equal(podDeleted.podSandboxStatus?.id, podId);
      assert.equal(podDeleted.podSandboxStatus?.metadata.uid, pod.metadata.uid);
      await sleep(200);
      assert.equal(events.received.length, 8, 'no further events');
    } finally {
      events.cancel();
    }
  });

  it('a container that exits by itself is reported STOPPED with its exit code; two subscribers both see it', async () => {
    const pod = podConfig(fx, 'ev-exit');
    const podId = (await rt().RunPodSandbox!({ config: pod })).podSandboxId;
    pods.push(podId);
    const { containerId } = await rt().CreateContainer!({
      podSandboxId: podId,
      config: containerConfig(fx, 'quitter', ['sh', '-c', 'sleep 0.5; exit 3']),
      sandboxConfig: pod,
    });
    const a = subscribe();
    const b = subscribe();
    try {
      await rt().StartContainer!({ containerId });
      for (const events of [a, b]) {
        const started = await events.next();
        assert.equal(started.containerEventType, ContainerEventType.CONTAINER_STARTED_EVENT);
        const stopped = await events.next();
        assert.equal(stopped.containerEventType, ContainerEventType.CONTAINER_STOPPED_EVENT);
        assert.equal(stopped.containerId, containerId);
        const own = stopped.containersStatuses.find((s) => s.id === containerId);
        assert.equal(own?.state, ContainerState.CONTAINER_EXITED);
        assert.equal(own?.exitCode, 3);
      }
      // The daemon still serves after a subscriber goes away.
      a.cancel();
      await rt().RemoveContainer!({ containerId });
      assert.equal((await b.next()).containerEventType, ContainerEventType.CONTAINER_DELETED_EVENT);
    } finally {
      a.cancel();
      b.cancel();
    }
  });

  it('shutdown ends open event streams instead of waiting out the grace period', async () => {
    for (const id of pods.splice(0)) await rt().RemovePodSandbox!({ podSandboxId: id });
    let ended = false;
    const sub = daemon.client.daemon.stream(RuntimeServiceName, 'GetContainerEvents', {}, () => undefined);
    const done = sub.done.then(() => (ended = true), () => (ended = true));
    await sleep(200);
    const started = Date.now();
    await daemon.stop();
    assert.ok(Date.now() - started < 5000, `shutdown took ${Date.now() - started} ms`);
    await done;
    assert.ok(ended);
  });
});

describe('a reader that falls behind', () => {
  /** Only what the handler reads: the bus, and empty stores. */
  function context(events: LifecycleEvents): ServerContext {
    return {
      pods: { events, sandboxes: { get: () => undefined } },
      containers: { containers: { list: () => [] } },
    } as unknown as ServerContext;
  }

  it(`is cut off with RESOURCE_EXHAUSTED after ${subscriberQueueLimit} queued events, and unsubscribed`, async () => {
    const events = new LifecycleEvents();
    const handler = containerEventHandlers(context(events)).GetContainerEvents!;
    const abort = new AbortController();
    // A transport that never drains.
    const stuck = () => new Promise<void>(() => undefined);
    const call = handler({}, stuck, abort.signal);
    assert.equal(events.subscriberCount, 1);
    for (let i = 0; i <= subscriberQueueLimit + 1; i++) events.publish('created', `c${i}`, 'p');
    assert.equal(events.subscriberCount, 0, 'unsubscribed at once, nothing more is buffered');
    await assert.rejects(call, (err: { code: number; message: string }) => err.code === status.RESOURCE_EXHAUSTED && /fell 1000 events behind/.test(err.message));
  });

  it('a reader that keeps up gets every event in order; cancelling ends the call', async () => {
    const events = new LifecycleEvents();
    const handler = containerEventHandlers(context(events)).GetContainerEvents!;
    const abort = new AbortController();
    const got: string[] = [];
    const call = handler({}, async (e) => void got.push(e.containerId as string), abort.signal);
    for (let i = 0; i < 3 * subscriberQueueLimit; i++) {
      events.publish('started', `c${i}`, 'p');
      if (i % 100 === 0) await sleep(0);
    }
    await sleep(10);
    abort.abort();
    await call;
    assert.equal(got.length, 3 * subscriberQueueLimit);
    assert.equal(got[1234], 'c1234');
    assert.equal(events.subscriberCount, 0);
  });
});
