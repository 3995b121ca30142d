import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
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

test('update writes the change durably; an unchanged record is not written again', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    const before = await stat(join(dir, 'a', 'rec.json'));
    const same = await store.update('a', (r) => r);
    assert.deepEqual(same, { id: 'a', phase: 'created', n: 0 });
    assert.equal((await stat(join(dir, 'a', 'rec.json'))).ino, before.ino, 'no new file was renamed into place');
    const changed = await store.update('a', (r) => ({ ...r, phase: 'running' }));
    assert.deepEqual(changed, { id: 'a', phase: 'running', n: 0 });
    assert.deepEqual(await onDisk(dir, 'a'), changed);
    assert.notEqual((await stat(join(dir, 'a', 'rec.json'))).ino, before.ino);
    assert.deepEqual(await readdir(join(dir, 'a')), ['rec.json'], 'no temporary file is left behind');
    assert.equal(await store.update('missing', (r) => ({ ...r, n: 1 })), undefined);
  }));

interface Marked extends Rec {
  mark?: string;
}
const marked = (r: Rec): Marked => ({ ...r, mark: 'pending' });

/** Waits until the record on disk satisfies `ok` (the unmarked rewrite runs in the background). */
async function onDiskEventually(dir: string, id: string, ok: (r: Marked) => boolean): Promise<Marked> {
  for (let i = 0; ; i++) {
    const r = (await onDisk(dir, id)) as Marked;
    if (ok(r) || i > 200) return r;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('updateAround: the marked change is flushed while the step runs; it takes effect after, and the mark goes', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    let duringStep: { disk: Marked; memory: Rec | undefined } | undefined;
    const { result, record } = await store.updateAround(
      'a',
      async () => {
        // Long enough for the write that runs beside the step to land.
        await new Promise((resolve) => setTimeout(resolve, 100));
        duringStep = { disk: (await onDisk(dir, 'a')) as Marked, memory: store.get('a') };
        return 7;
      },
      (r) => ({ ...r, phase: 'running' }),
      marked,
    );
    assert.equal(result, 7);
    assert.deepEqual(duringStep, { disk: { id: 'a', phase: 'running', n: 0, mark: 'pending' }, memory: { id: 'a', phase: 'created', n: 0 } });
    assert.deepEqual(record, { id: 'a', phase: 'running', n: 0 });
    assert.deepEqual(store.get('a'), record, 'in memory as soon as the step succeeded');
    assert.deepEqual(await onDiskEventually(dir, 'a', (r) => r.mark === undefined), record);
    assert.deepEqual(await readdir(join(dir, 'a')), ['rec.json'], 'no temporary file is left behind');
  }));

test('updateAround: a failed step puts the record back on disk and changes nothing in memory', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    await assert.rejects(
      store.updateAround(
        'a',
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 50));
          throw new Error('runtime said no');
        },
        (r) => ({ ...r, phase: 'running' }),
        marked,
      ),
      /runtime said no/,
    );
    assert.deepEqual(store.get('a'), { id: 'a', phase: 'created', n: 0 });
    assert.deepEqual(await onDisk(dir, 'a'), { id: 'a', phase: 'created', n: 0 });
  }));

test('updateAround: a record changed while the step ran gets the change applied to its latest form', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    const { record } = await store.updateAround(
      'a',
      async () => {
        await store.update('a', (r) => ({ ...r, phase: 'exited' }));
      },
      (r) => ({ ...r, n: r.n + 1 }),
      marked,
    );
    assert.deepEqual(record, { id: 'a', phase: 'exited', n: 1 });
    assert.deepEqual(store.get('a'), record);
    assert.deepEqual(await onDiskEventually(dir, 'a', (r) => r.mark === undefined && r.n === 1), record);
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

test('open removes the temporary file a crash left between writing a record and renaming it', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    await writeFile(join(dir, 'a', 'rec.json.tmp-0123456789ab'), '{"id":"a","phase":"running","n":0}');
    await writeFile(join(dir, 'a', 'upper-data'), 'kept');
    const reopened = new RecordStore<Rec>(dir, 'rec.json', pino({ level: 'silent' }));
    await reopened.open();
    assert.deepEqual(reopened.get('a'), { id: 'a', phase: 'created', n: 0 });
    assert.deepEqual((await readdir(join(dir, 'a'))).sort(), ['rec.json', 'upper-data']);
  }));

test('updateAround: an exit recorded while the step returns keeps the start time the step brings', () =>
  withStore(async (store) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    const startedAt = 1000;
    const { record } = await store.updateAround(
      'a',
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        // The exit watcher's write is under way (its flush takes a while) when the step returns.
        void store.update('a', (r) => (r.phase === 'exited' ? r : { ...r, phase: 'exited' }));
      },
      (r) => (r.phase === 'created' ? { ...r, phase: 'running', n: startedAt } : r.n === 0 ? { ...r, n: startedAt } : r),
      marked,
    );
    assert.deepEqual(record, { id: 'a', phase: 'exited', n: startedAt });
    assert.deepEqual(store.get('a'), record, 'memory agrees with what the step was told');
  }));

test('updateAround on a record deleted meanwhile does not bring it back on disk', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    void store.update('a', (r) => ({ ...r, n: 1 }));
    const deleted = store.delete('a');
    await assert.rejects(
      store.updateAround(
        'a',
        async () => {
          await deleted;
          throw new Error('no such container');
        },
        (r) => ({ ...r, phase: 'running' }),
        marked,
      ),
      /no such container/,
    );
    assert.equal(store.get('a'), undefined);
    assert.deepEqual(await readdir(dir), []);
  }));

test('updateAround: a write of the record soon after removes the mark, and the delayed rewrite is skipped', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'created', n: 0 });
    await store.updateAround('a', async () => undefined, (r) => ({ ...r, phase: 'running' }), marked);
    assert.equal(((await onDisk(dir, 'a')) as Marked).mark, 'pending', 'still marked right after the step');
    await store.update('a', (r) => ({ ...r, n: 1 }));
    const written = await stat(join(dir, 'a', 'rec.json'));
    assert.deepEqual(await onDisk(dir, 'a'), { id: 'a', phase: 'running', n: 1 });
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await stat(join(dir, 'a', 'rec.json'))).ino, written.ino, 'no second rewrite');
  }));

test('updateAround: an earlier mark\'s delayed rewrite firing during a later step does not undo that step', () =>
  withStore(async (store, dir) => {
    await store.put({ id: 'a', phase: 'creating', n: 0 });
    await store.updateAround('a', async () => undefined, (r) => ({ ...r, phase: 'created' }), marked);
    // The next step runs across the first one's delayed rewrite.
    const { record } = await store.updateAround(
      'a',
      () => new Promise((resolve) => setTimeout(resolve, 400)),
      (r) => ({ ...r, phase: 'running' }),
      marked,
    );
    assert.deepEqual(record, { id: 'a', phase: 'running', n: 0 });
    assert.deepEqual(await onDiskEventually(dir, 'a', (r) => r.mark === undefined && r.phase === 'running'), record, 'the file ends as the step left the record');
  }));
