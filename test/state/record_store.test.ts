import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { RecordStore } from '../../src/state/record_store.js';
import { scratchDir } from '../helpers/daemon.js';

interface Rec {
  id: string;
  phase: string;
  n: number;
}

async function withStore(run: (store: RecordStore<Rec>, dir: string) => Promise<void>): Promise<void> {
  const scratch = await scratchDir('skiff-records-');
  try {
    const store = new RecordStore<Rec>(join(scratch.dir, 'records'), 'rec.json', pino({ level: 'silent' }));
    await store.open();
    await run(store, join(scratch.dir, 'records'));
  } finally {
    await scratch.cleanup();
  }
}

const onDisk = async (dir: string, id: string): Promise<Rec> => JSON.parse(await readFile(join(dir, id, 'rec.json'), 'utf8')) as Rec;

test('updateAfter records the change once the step succeeds, on disk and in memory', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    let duringStep: Rec | undefined;
    const { result, record } = await store.updateAfter(
      'a',
      async () => {
        duringStep = await onDisk(dir, 'a');
        return 7;
      },
      (r) => ({ ...r, phase: 'running' }),
    );
    assert.equal(result, 7);
    assert.equal(duringStep?.phase, 'created', 'the new record is not in place before the step ends');
    assert.deepEqual(record, { id: 'a', phase: 'running', n: 0 });
    assert.deepEqual(await onDisk(dir, 'a'), record);
    assert.deepEqual(store.get('a'), record);
    assert.deepEqual(await readdir(join(dir, 'a')), ['rec.json'], 'no staged file is left behind');
  }));

test('updateAfter records nothing when the step fails', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    await assert.rejects(
      store.updateAfter('a', () => Promise.reject(new Error('runtime said no')), (r) => ({ ...r, phase: 'running' })),
      /runtime said no/,
    );
    assert.equal(store.get('a')?.phase, 'created');
    assert.equal((await onDisk(dir, 'a')).phase, 'created');
    assert.deepEqual(await readdir(join(dir, 'a')), ['rec.json']);
  }));

test('updateAfter applies its change to a record that changed while the step ran', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    const { record } = await store.updateAfter(
      'a',
      async () => {
        await store.update('a', (r) => ({ ...r, phase: 'exited', n: 1 }));
      },
      (r) => (r.phase === 'created' ? { ...r, phase: 'running' } : { ...r, n: r.n + 10 }),
    );
    assert.deepEqual(record, { id: 'a', phase: 'exited', n: 11 });
    assert.deepEqual(await onDisk(dir, 'a'), record);
  }));

test('writes to different records overlap; writes to one record keep their order', () =>
  withStore(async (store) => {
    await Promise.all([store.put({ id: 'a', phase: 'p', n: 0 }), store.put({ id: 'b', phase: 'p', n: 0 })]);
    await Promise.all(Array.from({ length: 10 }, () => store.update('a', (r) => ({ ...r, n: r.n + 1 }))));
    assert.equal(store.get('a')?.n, 10);
    assert.equal(store.get('b')?.n, 0);
  }));

test('putUnflushed makes the record visible and readable by the next open', () =>
  withStore(async (store, dir) => {
    const written = await store.putUnflushed({ id: 'a', phase: 'creating', n: 1 });
    assert.deepEqual(store.get('a'), written);
    assert.deepEqual(await onDisk(dir, 'a'), written);
    assert.deepEqual(await readdir(join(dir, 'a')), ['rec.json'], 'no temporary file is left behind');
    const reopened = new RecordStore<Rec>(dir, 'rec.json', pino({ level: 'silent' }));
    await reopened.open();
    assert.deepEqual(reopened.get('a'), written);
  }));

test('open drops a record left empty or torn (an unflushed write cut by a power loss) and keeps the others', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'good', phase: 'created', n: 0 });
    await store.putUnflushed({ id: 'empty', phase: 'creating', n: 0 });
    await store.putUnflushed({ id: 'torn', phase: 'creating', n: 0 });
    await writeFile(join(dir, 'empty', 'rec.json'), '');
    await writeFile(join(dir, 'torn', 'rec.json'), '{"id":"torn","pha');
    const reopened = new RecordStore<Rec>(dir, 'rec.json', pino({ level: 'silent' }));
    await reopened.open();
    assert.deepEqual(reopened.list().map((r) => r.id), ['good']);
    assert.deepEqual((await readdir(dir)).sort(), ['good'], 'the unreadable records are removed with their directories');
  }));
