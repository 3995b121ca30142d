// Lifecycle events of containers and pod sandboxes, published where the state
// change is recorded and read by GetContainerEvents (the kubelet's evented PLEG).
import type { SandboxRecord } from '../sandbox/pods.js';

export type LifecycleEventKind = 'created' | 'started' | 'stopped' | 'deleted';

export interface LifecycleEvent {
  kind: LifecycleEventKind;
  /** A container id, or the pod sandbox id for the sandbox's own lifecycle (as CRI-O and containerd report it). */
  containerId: string;
  podId: string;
  /** When the change was recorded, Unix nanoseconds. */
  at: number;
  /** The pod as it was, for an event that outlives the pod's record (its removal). */
  pod?: SandboxRecord;
}

export type LifecycleListener = (event: LifecycleEvent) => void;

/**
 * Synchronous fan-out: a listener runs while the published state is still the
 * current one, so it can snapshot statuses that match the event. Listeners must
 * not block; buffering for slow readers is theirs to bound.
 */
export class LifecycleEvents {
  private readonly listeners = new Set<LifecycleListener>();
  private readonly closer = new AbortController();
  /** Aborted when the daemon shuts down: subscribers end their streams so shutdown need not wait for them. */
  readonly closing: AbortSignal = this.closer.signal;

  constructor(private readonly onListenerError: (err: unknown) => void = () => undefined) {}

  /** Returns the unsubscribe function. */
  subscribe(listener: LifecycleListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(kind: LifecycleEventKind, containerId: string, podId: string, pod?: SandboxRecord): void {
    if (this.listeners.size === 0) return;
    const event: LifecycleEvent = { kind, containerId, podId, at: Date.now() * 1e6, ...(pod ? { pod } : {}) };
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        // One broken subscriber must not fail the operation that published.
        this.onListenerError(err);
      }
    }
  }

  close(): void {
    this.closer.abort();
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }
}
