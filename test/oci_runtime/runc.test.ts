// The driver against the real runc and conmon 2.1.6: bundles from the
// spec generator, containers under conmon, exits reported by inotify, the
// CRI log, stop/kill, failed creates, resource updates, OOM kills, log
// reopening and terminal resizes. Needs root, runc, conmon and a static
// busybox; skipped otherwise.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { ExitWatcher, type ExitStatus } from '../../src/oci/runtime/exit_watcher.js';
import { assembleLines, readCriLog } from '../../src/oci/runtime/cri_log.js';
import { isRuntimeError } from '../../src/oci/runtime/errors.js';
import type { OciRuntime } from '../../src/oci/runtime/oci_runtime.js';
import {
  alive,
  cgroupV1Dir,
  cleanupWork,
  conmonsFor,
  createFrom,
  hostProblem,
  makeBundle,
  makeWork,
  newRuntime,
  sleep,
  type Bundle,
  type Work,
} from './fixtures.js';
import { resources } from '../oci/helpers.js';

const skip = await hostProblem();
const MiB = 1024 * 1024;

describe('OCI runtime driver with runc and conmon', { skip, timeout: 180_000 }, () => {
  let work: Work;
  let watcher: ExitWatcher;
  let rt: OciRuntime;
  const ids: string[] = [];

  before(async () => {
    work = await makeWork('runc');
    watcher = await ExitWatcher.open(work.exitsDir);
    rt = newRuntime(work, 'runc', watcher);
  });
  after(async () => {
    watcher?.close();
    if (work) await cleanupWork(work, [rt], ids);
  });

  async function bundle(command: string | string[], opts: Parameters<typeof makeBundle>[2] = {}): Promise<Bundle> {
    const b = await makeBundle(work, command, opts);
    ids.push(b.id);
    return b;
  }

  /** Resolves with the exit the watcher reports for `id` (registered before the exit can happen). */
  function exitEvent(id: string, timeoutMs = 20_000): Promise<ExitStatus & { at: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watcher.off('exit', onExit);
        reject(new Error(`no exit event for ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onExit = (name: string, st: ExitStatus): void => {
        if (name !== id) return;
        clearTimeout(timer);
        watcher.off('exit', onExit);
        resolve({ ...st, at: Date.now() });
      };
      watcher.on('exit', onExit);
    });
  }

  async function gone(pid: number | undefined, ms = 5000, isAlive: (pid: number) => Promise<boolean> = alive): Promise<boolean> {
    if (pid === undefined) return true;
    for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (!(await isAlive(pid))) return true;
    return false;
  }

  /** Gone and reaped: no zombie left for the pid (alive() counts a zombie as gone). */
  const reaped = (pid: number): Promise<boolean> =>
    gone(pid, 5000, async (p) => {
      try {
        process.kill(p, 0);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code !== 'ESRCH';
      }
    });

  async function removeAndCheck(b: Bundle): Promise<void> {
    await rt.delete(b.id, true);
    assert.equal(await rt.state(b.id), undefined);
    for (const pid of await conmonsFor(b.id)) assert.ok(await gone(pid), `conmon ${pid} of ${b.id} still runs`);
    await rt.delete(b.id); // idempotent
  }

  it('creates, starts and reports the exit; the CRI log has full and partial lines', async () => {
    const b = await bundle("echo out; echo err >&2; printf partial; sleep 1");
    const exited = exitEvent(b.id);
    const created = await createFrom(rt, b);
    assert.ok(created.pid > 0);
    assert.ok(created.conmonPid && (await alive(created.conmonPid)), 'conmon runs');
    assert.deepEqual(await rt.state(b.id), { status: 'created', pid: created.pid });
    assert.ok((await stat(rt.attachSocketPath(b.id))).isSocket(), 'conmon bound the attach socket');

    await rt.start(b.id);
    assert.equal((await rt.state(b.id))?.status, 'running');

    const ev = await exited;
    assert.equal(ev.exitCode, 0);
    const exit = await rt.readExit(b.id);
    assert.equal(exit?.exitCode, 0);
    assert.equal(exit?.oomKilled, false);
    assert.ok(exit && Math.abs(exit.finishedAt.getTime() - ev.at) < 2000, 'finish time is the exit file\'s mtime');
    assert.equal((await rt.state(b.id))?.status, 'stopped');
    assert.equal(await readFile(`${work.exitsDir}/${b.id}`, 'utf8'), '0', 'exit file: decimal, no newline');
    assert.equal(await readFile(`${b.persistDir}/exit`, 'utf8'), '0');
    assert.ok(await gone(created.conmonPid), 'conmon exits after the container');
    // conmon is our child (--sync): reaped by us, no zombie left.
    assert.ok(await reaped(created.conmonPid), `conmon ${created.conmonPid} was not reaped`);

    const log = await readCriLog(b.logPath);
    assert.deepEqual(log.malformed, []);
    const entries = log.entries.map((e) => `${e.stream} ${e.partial ? 'P' : 'F'} ${e.content}`);
    assert.ok(entries.includes('stdout F out'), entries.join('\n'));
    assert.ok(entries.includes('stderr F err'), entries.join('\n'));
    assert.ok(entries.includes('stdout P partial'), entries.join('\n'));
    assert.match(log.entries[0]?.timestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d$/);
    const lines = assembleLines(log.entries).map((l) => [l.stream, l.text, l.partial]);
    assert.deepEqual(lines, [['stdout', 'out', false], ['stderr', 'err', false], ['stdout', 'partial', true]]);

    await removeAndCheck(b);
    await assert.rejects(stat(rt.attachSocketPath(b.id)), 'attach link removed');
  });

  it('propagates the exit code; conmon waits for the start byte', async () => {
    const b = await bundle('exit 3');
    const exited = exitEvent(b.id);
    let placed: { comm: string; state: unknown } | undefined;
    await createFrom(rt, b, {
      placeMonitor: async (pid) => {
        await sleep(100);
        placed = { comm: (await readFile(`/proc/${pid}/comm`, 'utf8')).trim(), state: await rt.state(b.id) };
      },
    });
    assert.deepEqual(placed, { comm: 'conmon', state: undefined }, 'nothing is created before the start byte');
    await rt.start(b.id);
    assert.equal((await exited).exitCode, 3);
    assert.equal((await rt.readExit(b.id))?.exitCode, 3);
    await removeAndCheck(b);
  });

  /** The processes whose parent is `pid`, with their names. */
  async function childrenOf(pid: number): Promise<{ pid: number; comm: string }[]> {
    const out: { pid: number; comm: string }[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      const m = /^\d+ \((.*)\) \S (\d+)/s.exec(stat);
      if (m && Number(m[2]) === pid) out.push({ pid: Number(entry), comm: m[1]! });
    }
    return out;
  }

  it('bundleReady: conmon loads before the bundle exists and waits at its start pipe until it is ready', async () => {
    const b = await bundle('exit 4');
    const config = await readFile(`${b.bundle}/config.json`);
    await rm(`${b.bundle}/config.json`);
    const exited = exitEvent(b.id);
    let ready!: () => void;
    let spawned!: (pid: number) => void;
    const told = new Promise<number>((r) => (spawned = r));
    const creating = createFrom(rt, b, { bundleReady: new Promise<void>((r) => (ready = r)), onMonitorSpawned: spawned });
    // Told as soon as conmon runs, while the bundle is still unmade.
    const monitorPid = await told;
    assert.equal((await readFile(`/proc/${monitorPid}/comm`, 'utf8')).trim(), 'conmon');
    await sleep(300);
    const [conmon] = await conmonsFor(b.id);
    assert.equal(conmon, monitorPid, 'conmon is up');
    // Loaded and waiting: its pidfile written, the log file it opens as it starts there, no runtime child yet.
    assert.equal(Number(await readFile(`${b.bundle}/conmon-pidfile`, 'utf8')), conmon);
    assert.ok((await stat(b.logPath)).isFile());
    assert.deepEqual(await childrenOf(conmon), []);
    assert.equal(await rt.state(b.id), undefined, 'the runtime has not run');
    await writeFile(`${b.bundle}/config.json`, config);
    ready();
    const { pid, conmonPid } = await creating;
    assert.ok(pid > 0);
    assert.equal(conmonPid, monitorPid);
    await rt.start(b.id);
    assert.equal((await exited).exitCode, 4);
    await removeAndCheck(b);
  });

  it('bundleReady rejected: conmon exits without running the runtime and leaves nothing behind', async () => {
    const b = await bundle('exit 0');
    let fail!: (err: Error) => void;
    const creating = createFrom(rt, b, { bundleReady: new Promise<void>((_, reject) => (fail = reject)) });
    await sleep(300);
    assert.equal((await conmonsFor(b.id)).length, 1, 'conmon is up and waiting');
    assert.ok((await stat(b.logPath)).isFile(), 'conmon opened the log file');
    fail(new Error('mounting the rootfs failed'));
    await assert.rejects(creating, /mounting the rootfs failed/);
    await sleep(100);
    assert.deepEqual(await conmonsFor(b.id), [], 'conmon is gone');
    assert.equal(await rt.state(b.id), undefined, 'the runtime never ran');
    await assert.rejects(stat(b.logPath), { code: 'ENOENT' }, 'the log file conmon opened is removed');
    await assert.rejects(stat(`${work.attachDir}/${b.id}`), { code: 'ENOENT' }, 'the attach link is removed');
  });

  it('a daemon that dies while conmon waits at its start pipe: no runtime runs, and conmon exits', async () => {
    const b = await bundle('exit 0');
    // Another process plays the daemon: it starts the create (the bundle never becomes ready), says
    // when conmon is up, and is killed.
    const fixtures = new URL('./fixtures.js', import.meta.url).href;
    const script = `
      import { newRuntime } from ${JSON.stringify(fixtures)};
      const [work, b] = JSON.parse(process.argv[1]);
      const rt = newRuntime(work, 'runc');
      rt.create({ id: b.id, bundle: b.bundle, logPath: b.logPath, terminal: false, stdin: false, stdinOnce: false, name: b.id, bundleReady: new Promise(() => {}) }).catch(() => {});
      setTimeout(() => console.log('up'), 300);
    `;
    const daemon = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([work, b])], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      daemon.stdout!.on('data', () => resolve());
      daemon.once('exit', (code) => reject(new Error(`the stand-in daemon exited early (${code})`)));
    });
    const [conmon] = await conmonsFor(b.id);
    assert.ok(conmon, 'conmon is up');
    assert.deepEqual(await childrenOf(conmon), []);
    daemon.kill('SIGKILL');
    for (let i = 0; i < 100 && (await conmonsFor(b.id)).length > 0; i++) await sleep(50);
    assert.deepEqual(await conmonsFor(b.id), [], 'conmon exits once its start pipe is reset');
    assert.equal(await rt.state(b.id), undefined, 'the runtime never ran');
  });

  it('stop: a container ignoring SIGTERM is SIGKILLed after the timeout', async () => {
    const b = await bundle("trap '' TERM; while true; do sleep 1; done");
    await createFrom(rt, b);
    await rt.start(b.id);
    await sleep(200); // let the shell install its trap
    const started = Date.now();
    await rt.stop(b.id, 1, b.stopSignal);
    const took = Date.now() - started;
    assert.ok(took >= 1000 && took < 3000, `stopped in ${took} ms`);
    const exit = await rt.readExit(b.id);
    assert.equal(exit?.exitCode, 137);
    assert.equal((await rt.state(b.id))?.status, 'stopped');
    await rt.stop(b.id, 10, 'SIGTERM'); // already stopped: fine, and at once
    assert.ok(Date.now() - started < 4000);
    await removeAndCheck(b);
    await rt.stop(b.id, 10, 'SIGTERM'); // unknown to the runtime: fine
  });

  it('stop: timeout 0 kills at once; a second stop joins and shortens the first', async () => {
    const b = await bundle('sleep 1000');
    await createFrom(rt, b);
    await rt.start(b.id);
    let started = Date.now();
    await rt.stop(b.id, 0, 'SIGTERM');
    assert.ok(Date.now() - started < 1000, `killed in ${Date.now() - started} ms`);
    assert.equal((await rt.readExit(b.id))?.exitCode, 137);
    await removeAndCheck(b);

    const c = await bundle("trap '' TERM; while true; do sleep 1; done");
    await createFrom(rt, c);
    await rt.start(c.id);
    await sleep(200);
    started = Date.now();
    const slow = rt.stop(c.id, 60, 'SIGTERM');
    await sleep(100);
    await rt.stop(c.id, 0, 'SIGTERM');
    await slow;
    assert.ok(Date.now() - started < 2000, `both stops done in ${Date.now() - started} ms`);
    assert.equal((await rt.readExit(c.id))?.exitCode, 137);
    await removeAndCheck(c);
  });

  it('stop without a daemon-wide exit watcher watches for itself', async () => {
    const own = newRuntime(work, 'runc');
    const b = await bundle("trap '' TERM; while true; do sleep 1; done");
    await createFrom(own, b);
    await own.start(b.id);
    await sleep(200);
    const started = Date.now();
    await own.stop(b.id, 1, 'SIGTERM');
    assert.ok(Date.now() - started < 3000);
    assert.equal((await own.readExit(b.id))?.exitCode, 137);
    await own.delete(b.id, true);
    assert.equal(await own.state(b.id), undefined);
  });

  it('stop of a created, never started container', async (t) => {
    const b = await bundle('echo never');
    const created = await createFrom(rt, b);
    await rt.stop(b.id, 5, 'SIGTERM');
    const exit = await rt.readExit(b.id);
    assert.ok(exit, 'conmon recorded an exit');
    t.diagnostic(`exit code of a stopped created container: ${exit.exitCode}`);
    assert.equal((await rt.state(b.id))?.status, 'stopped');
    assert.equal(await alive(created.pid), false);
    await removeAndCheck(b);
    assert.deepEqual((await readCriLog(b.logPath)).entries, [], 'the command never ran');
  });

  it('kill delivers a signal; the exit code says which', async () => {
    const b = await bundle('sleep 1000');
    const exited = exitEvent(b.id);
    await createFrom(rt, b);
    await rt.start(b.id);
    await rt.kill(b.id, 'SIGKILL', true);
    assert.equal((await exited).exitCode, 137);
    await assert.rejects(rt.kill(b.id, 'TERM'), (err) => isRuntimeError(err, 'not-found'));
    await assert.rejects(rt.kill(b.id, 'SIGNOPE'), /unknown signal/);
    await removeAndCheck(b);
  });

  it('a failed create rejects with runc\'s own words and leaves nothing running', async () => {
    const b = await bundle(['/nonexistent']);
    await assert.rejects(createFrom(rt, b), (err) => {
      assert.ok(isRuntimeError(err, 'failed'), String(err));
      assert.match(err.message, /^container create failed: .*exec: "\/nonexistent": stat \/nonexistent: no such file or directory/);
      assert.match(err.details, /level=error/, 'the raw runtime output is kept');
      return true;
    });
    assert.equal(await rt.state(b.id), undefined);
    assert.deepEqual(await conmonsFor(b.id), []);
    await assert.rejects(stat(b.logPath), 'no log file left behind');
    await assert.rejects(stat(rt.attachSocketPath(b.id)), 'no attach link left behind');
    assert.equal(await rt.readExit(b.id), undefined);
  });

  it('update: new cpu shares and memory limit reach the cgroup', async () => {
    const b = await bundle('sleep 1000', { resources: resources({ cpuShares: 512, memoryLimitInBytes: 64 * MiB }) });
    await createFrom(rt, b);
    await rt.start(b.id);
    const memFile = `${cgroupV1Dir('memory', b.spec)}/memory.limit_in_bytes`;
    const cpuFile = `${cgroupV1Dir('cpu', b.spec)}/cpu.shares`;
    assert.equal((await readFile(memFile, 'utf8')).trim(), String(64 * MiB));
    assert.equal((await readFile(cpuFile, 'utf8')).trim(), '512');
    await rt.update(b.id, { cpu: { shares: 256 }, memory: { limit: 48 * MiB, swap: 48 * MiB } });
    assert.equal((await readFile(memFile, 'utf8')).trim(), String(48 * MiB));
    assert.equal((await readFile(cpuFile, 'utf8')).trim(), '256');
    await assert.rejects(rt.update(b.id, { memory: { limit: 1 } }), (err) => isRuntimeError(err) && err.message.startsWith(`runc update ${b.id}: `));
    await rt.stop(b.id, 0, 'SIGKILL');
    await removeAndCheck(b);
    await assert.rejects(stat(cgroupV1Dir('memory', b.spec)), 'runc removed the container cgroup');
  });

  it('an OOM kill is reported as such', async (t) => {
    const b = await bundle('x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done', {
      resources: resources({ memoryLimitInBytes: 32 * MiB }),
    });
    const exited = exitEvent(b.id, 60_000);
    await createFrom(rt, b);
    await rt.start(b.id);
    const ev = await exited;
    assert.equal(ev.exitCode, 137);
    const exit = await rt.readExit(b.id);
    assert.equal(exit?.oomKilled, true);
    const conmonFile = await stat(`${b.bundle}/oom`).then(() => true, () => false);
    t.diagnostic(`conmon's oom file: ${conmonFile ? 'present' : 'absent (the cgroup counter said so)'}`);
    await removeAndCheck(b);
  });

  it('reopenLog: after the log is renamed away, conmon writes a new file at the path', async () => {
    const b = await bundle('i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done');
    await createFrom(rt, b);
    await rt.start(b.id);
    await sleep(300);
    await rename(b.logPath, `${b.logPath}.1`);
    await rt.reopenLog(b.id);
    await sleep(300);
    const old = (await readCriLog(`${b.logPath}.1`)).entries.length;
    const fresh = await readCriLog(b.logPath);
    assert.deepEqual(fresh.malformed, []);
    assert.ok(old > 0 && fresh.entries.length > 0, `old ${old}, new ${fresh.entries.length}`);
    await sleep(200);
    assert.equal((await readCriLog(`${b.logPath}.1`)).entries.length, old, 'the old file no longer grows');
    const oldLast = Number((await readCriLog(`${b.logPath}.1`)).entries.at(-1)?.content.slice(4));
    const newFirst = Number(fresh.entries[0]?.content.slice(4));
    assert.equal(newFirst, oldLast + 1, 'no line lost or repeated across the reopen');
    await rt.stop(b.id, 0, 'SIGKILL');
    await removeAndCheck(b);
    await assert.rejects(rt.reopenLog(b.id), (err) => isRuntimeError(err, 'not-found'));
  });

  it('resize: the terminal of a tty container gets the new size', async () => {
    const b = await bundle('while true; do stty size; sleep 0.1; done', { tty: true });
    await createFrom(rt, b, { terminal: true });
    await rt.start(b.id);
    await sleep(300);
    const before = (await readCriLog(b.logPath)).entries.map((e) => e.content.trim());
    assert.ok(before.length > 0 && !before.includes('40 100'), before.join(' | '));
    await rt.resize(b.id, 100, 40);
    await sleep(400);
    const entries = (await readCriLog(b.logPath)).entries;
    const sizes = entries.map((e) => e.content.trim());
    assert.ok(sizes.slice(before.length).includes('40 100'), sizes.join(' | '));
    assert.ok(entries.every((e) => e.stream === 'stdout'), 'a terminal has one stream');
    await rt.stop(b.id, 0, 'SIGKILL');
    await removeAndCheck(b);
  });
});
