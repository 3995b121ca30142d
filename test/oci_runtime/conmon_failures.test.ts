// conmon's failure paths, driven by a fake runtime (a shell script) under
// the real conmon: a runtime that hangs in `create` (the bounded wait must
// kill conmon and the runtime, then delete), one that fails without a word
// (conmon 2.1.6 then closes the sync pipe without a message), and a
// missing conmon binary.

import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isRuntimeError } from '../../src/oci/runtime/errors.js';
import { OciRuntime } from '../../src/oci/runtime/oci_runtime.js';
import { alive, conmonPath, conmonsFor, quietLog, sleep } from './fixtures.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

// Records every call, then behaves as FAKE_MODE says for `create`.
const fakeRuntime = `#!/bin/sh
echo "$*" >> "$FAKE_DIR/calls"
for a in "$@"; do
  case "$a" in
    create) verb=create ;;
    delete) verb=delete ;;
  esac
done
case "$verb/$FAKE_MODE" in
  create/hang) echo $$ > "$FAKE_DIR/runtime.pid"; exec sleep 1000 ;;
  create/silent) exit 1 ;;
  create/loud) echo "fake: no such image layer" >&2; exit 1 ;;
  delete/*) exit 0 ;;
esac
echo "fake: unexpected $*" >&2
exit 1
`;

describe('conmon failure paths with a fake runtime', { skip, timeout: 60_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-rt-fake-'));
    await writeFile(join(dir, 'runtime'), fakeRuntime);
    await chmod(join(dir, 'runtime'), 0o755);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  function runtime(mode: string, monitorPath = conmonPath, createTimeoutMs = 2000): OciRuntime {
    return new OciRuntime({
      handler: {
        name: 'fake',
        runtimePath: join(dir, 'runtime'),
        runtimeRoot: join(dir, 'root'),
        monitorPath,
        config: {
          runtime_path: '',
          runtime_root: '',
          runtime_type: 'oci',
          monitor_path: monitorPath,
          monitor_env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `FAKE_DIR=${dir}`, `FAKE_MODE=${mode}`],
          allowed_annotations: [],
          privileged_without_host_devices: false,
        },
      },
      cgroupManager: 'cgroupfs',
      exitsDir: join(dir, 'exits'),
      attachSocketDir: join(dir, 'attach'),
      log: quietLog,
      createTimeoutMs,
    });
  }

  async function create(rt: OciRuntime, id: string): Promise<unknown> {
    const bundle = join(dir, 'bundles', id);
    await Promise.all([mkdir(bundle, { recursive: true }), mkdir(join(dir, 'logs'), { recursive: true })]);
    await writeFile(join(bundle, 'config.json'), '{}');
    return rt.create({ id, bundle, logPath: join(dir, 'logs', `${id}.log`), terminal: false, stdin: false, stdinOnce: false, name: id });
  }

  it('a runtime that hangs: create gives up in time, kills conmon and the runtime, deletes', async () => {
    const rt = runtime('hang');
    const started = Date.now();
    await assert.rejects(create(rt, 'hang1'), (err) => {
      assert.ok(isRuntimeError(err, 'timeout'), String(err));
      assert.match(err.message, /timed out after 2 s/);
      return true;
    });
    assert.ok(Date.now() - started < 6000, `gave up after ${Date.now() - started} ms`);
    const runtimePid = Number(await readFile(join(dir, 'runtime.pid'), 'utf8'));
    for (let i = 0; i < 40 && (await alive(runtimePid)); i++) await sleep(50);
    assert.equal(await alive(runtimePid), false, 'the hung runtime died with its conmon');
    assert.deepEqual(await conmonsFor('hang1'), []);
    const calls = await readFile(join(dir, 'calls'), 'utf8');
    assert.match(calls, /^--root=\S+ create --bundle \S+ --pid-file \S+\/pidfile hang1$/m, 'conmon ran `runtime --root=R create`');
    assert.match(calls, /^--root \S+ delete --force hang1$/m, 'the driver deleted the container');
  });

  it('a runtime that fails silently: EOF on the sync pipe is a failed create', async () => {
    const rt = runtime('silent');
    await assert.rejects(create(rt, 'silent1'), (err) => {
      assert.ok(isRuntimeError(err, 'failed'), String(err));
      assert.match(err.message, /conmon closed the sync pipe without reporting the container's pid/);
      return true;
    });
    assert.deepEqual(await conmonsFor('silent1'), []);
  });

  it('a runtime that fails with a message: the message is the error', async () => {
    const rt = runtime('loud');
    await assert.rejects(create(rt, 'loud1'), (err) => {
      assert.ok(isRuntimeError(err, 'failed'), String(err));
      assert.equal(err.message, 'container create failed: fake: no such image layer');
      return true;
    });
  });

  it('a missing conmon is a clear error', async () => {
    const rt = runtime('loud', join(dir, 'no-conmon'));
    await assert.rejects(create(rt, 'nomon1'), /container create failed: cannot run \S+no-conmon: ENOENT /);
  });
});
