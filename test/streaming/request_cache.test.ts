import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { RequestCache } from '../../src/streaming/request_cache.js';

const entry = (id: string) => ({ kind: 'attach' as const, request: { containerId: id, stdin: false, stdout: true, stderr: false, tty: false } });

describe('streaming request cache', () => {
  it('hands out URL-safe tokens that work once', () => {
    const cache = new RequestCache();
    const token = cache.insert(entry('a'));
    assert.match(token, /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(cache.consume(token), entry('a'));
    assert.equal(cache.consume(token), undefined);
    assert.equal(cache.consume('unknown'), undefined);
  });

  it('expires tokens after the TTL and frees their room', () => {
    let now = 1_000;
    const cache = new RequestCache({ ttlMs: 60_000, maxEntries: 2, now: () => now });
    const first = cache.insert(entry('a'));
    cache.insert(entry('b'));
    assert.throws(() => cache.insert(entry('c')), (err: { code: number; message: string }) => err.code === status.RESOURCE_EXHAUSTED && /in-flight/.test(err.message));
    now += 60_000;
    assert.equal(cache.consume(first), undefined, 'expired exactly at the TTL');
    const third = cache.insert(entry('c'));
    assert.equal(cache.size, 1, 'expired entries were pruned');
    assert.deepEqual(cache.consume(third), entry('c'));
  });
});
