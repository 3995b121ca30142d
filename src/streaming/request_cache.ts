// Requests the Exec, Attach and PortForward RPCs validated, held under random
// single-use tokens until the client connects to the URL that names them.
// Expiry is checked on use, so an idle daemon runs no timer for this.
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { AttachRequest, ExecRequest, PortForwardRequest } from '../proto/cri.js';
import { RpcError } from '../server/rpc.js';

export type CachedRequest =
  | { kind: 'exec'; request: ExecRequest }
  | { kind: 'attach'; request: AttachRequest }
  | { kind: 'portforward'; request: PortForwardRequest };

export type StreamKind = CachedRequest['kind'];

export interface RequestCacheOptions {
  /** How long a token stays valid; the kubelet's library uses one minute. */
  ttlMs?: number;
  /** Tokens outstanding at once; more is refused rather than grown without bound. */
  maxEntries?: number;
  now?: () => number;
}

export class RequestCache {
  private readonly entries = new Map<string, { entry: CachedRequest; expiresAt: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: RequestCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.maxEntries = options.maxEntries ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** Stores a request; returns its token (URL-safe). */
  insert(entry: CachedRequest): string {
    this.pruneExpired();
    if (this.entries.size >= this.maxEntries) {
      throw new RpcError(status.RESOURCE_EXHAUSTED, `maximum number of in-flight streaming requests (${this.maxEntries}) exceeded`);
    }
    let token: string;
    do token = randomBytes(16).toString('base64url');
    while (this.entries.has(token));
    this.entries.set(token, { entry, expiresAt: this.now() + this.ttlMs });
    return token;
  }

  /** Takes a request out; undefined when the token is unknown, used or expired. */
  consume(token: string): CachedRequest | undefined {
    const held = this.entries.get(token);
    if (!held) return undefined;
    this.entries.delete(token);
    return held.expiresAt > this.now() ? held.entry : undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every entry has the same lifetime, so the map's insertion order is expiry order. */
  private pruneExpired(): void {
    const now = this.now();
    for (const [token, held] of this.entries) {
      if (held.expiresAt > now) break;
      this.entries.delete(token);
    }
  }
}
