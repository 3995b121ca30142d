// The same driver with crun. crun 1.8 refuses cgroup v1 hosts that also
// mount the unified hierarchy ("hybrid" mode): then the create must fail
// with crun's own words, leave nothing behind, and the rest is skipped with
// that reason. Where crun works, a container runs through its whole life.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assembleLines, readCriLog } from '../../src/oci/runtime/cri_log.js';
import { isRuntimeError } from '../../src/oci/runtime/errors.js';
import { ExitWatcher } from '../../src/oci/runtime/exit_watcher.js';
import type { OciRuntime } from '../../src/oci/runtime/oci_runtime.js';
import { cleanupWork, conmonsFor, createFrom, crunPath, hostProblem, makeBundle, makeWork, newRuntime, type Work } from './fixtures.js';

const skip = await hostProblem(crunPath);

describe('OCI runtime driver with crun and conmon', { skip, timeout: 60_000 }, () => {
  let work: Work;
  let watcher: ExitWatcher;
  let rt: OciRuntime;
  const ids: string[] = [];

  before(async () => {
    work = await makeWork('crun');
    watcher = await ExitWatcher.open(work.exitsDir);
    rt = newRuntime(work, 'crun', watcher);
  });
  after(async () => {
    watcher?.close();
    if (work) await cleanupWork(work, [rt], ids);
  });

  it('runs a container, or surfaces crun\'s refusal and skips', async (t) => {
    const b = await makeBundle(work, 'echo hello from crun; exit 5');
    ids.push(b.id);
    try {
      await createFrom(rt, b);
    } catch (err) {
      assert.ok(isRuntimeError(err, 'failed'), String(err));
      assert.match(err.message, /^container create failed: \S/);
      assert.doesNotMatch(err.message, /without reporting the container's pid/, 'the reason is crun\'s, not a guess');
      assert.equal(await rt.state(b.id), undefined);
      assert.deepEqual(await conmonsFor(b.id), []);
      t.diagnostic(`crun said: ${err.details.trim()}`);
      t.skip(`crun cannot run containers on this host: ${err.message}`);
      return;
    }
    const exited = watcher.waitFor(b.id, 20_000);
    await rt.start(b.id);
    assert.equal((await exited)?.exitCode, 5);
    assert.equal((await rt.readExit(b.id))?.exitCode, 5);
    const lines = assembleLines((await readCriLog(b.logPath)).entries).map((l) => l.text);
    assert.deepEqual(lines, ['hello from crun']);
    await rt.delete(b.id, true);
    assert.equal(await rt.state(b.id), undefined);
  });
});
