import assert from 'node:assert/strict';
import { spawn as forkSpawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { isNativeError, spawnChild, type SpawnChildOptions } from '../../src/native/index.js';
import { scratchDir } from '../helpers/daemon.js';

const env = ['PATH=/usr/bin:/bin'];
const sh = (script: string, stdio: SpawnChildOptions['stdio'] = ['null', 'null', 'null']): SpawnChildOptions => ({
  file: '/bin/sh',
  args: ['-c', script],
  env,
  stdio,
});

const socket = (fd: number | null | undefined): Socket => {
  assert.equal(typeof fd, 'number');
  return new Socket({ fd: fd as number, readable: true, writable: true });
};

/** Everything read until the socket closes. */
const collect = (sock: Socket): Promise<string> =>
  new Promise((resolve, reject) => {
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => (text += chunk));
    sock.on('error', reject);
    sock.on('close', () => resolve(text));
  });

/** How long `start` holds the event loop: from the call to the next setImmediate. */
const loopStall = async (start: () => void): Promise<number> => {
  const t0 = performance.now();
  start();
  await new Promise<void>((resolve) => setImmediate(resolve));
  return performance.now() - t0;
};

describe('native spawnChild', () => {
  it('runs /bin/sh -c with stdin written and read back through cat, stdout and stderr collected, and its exit code', async () => {
    const child = await spawnChild(sh('cat; echo err >&2; exit 3', ['pipe', 'pipe', 'pipe']));
    assert.ok(child.pid > 0);
    assert.equal(child.fds.length, 3);
    const [stdin, stdout, stderr] = child.fds.map(socket) as [Socket, Socket, Socket];
    const outputs = Promise.all([collect(stdin), collect(stdout), collect(stderr)]);
    stdin.end('hello\nworld\n');
    assert.deepEqual(await outputs, ['', 'hello\nworld\n', 'err\n']);
    assert.deepEqual(await child.exited, { code: 3, signal: null });
  });

  it('reports a signal exit after process.kill while the child sleeps', async () => {
    const child = await spawnChild(sh('exec sleep 30'));
    assert.deepEqual(child.fds, [null, null, null]);
    process.kill(child.pid, 'SIGKILL');
    assert.deepEqual(await child.exited, { code: null, signal: 9 });
  });

  it('hands the child a duplicate of an fd of ours, honours cwd and passes exactly the environment', async () => {
    const scratch = await scratchDir('skiff-spawn-');
    const fd = openSync(join(scratch.dir, 'out'), 'w');
    try {
      const child = await spawnChild({ ...sh('pwd; echo "$A|$B"; env | wc -l', ['null', fd, 'null']), cwd: scratch.dir, env: [...env, 'A=1', 'B=two words'] });
      assert.deepEqual(child.fds, [null, null, null]);
      assert.deepEqual(await child.exited, { code: 0, signal: null });
    } finally {
      closeSync(fd);
    }
    // dash adds PWD (and keeps PATH): 3 variables from our 3, plus PWD.
    assert.equal(readFileSync(join(scratch.dir, 'out'), 'utf8'), `${scratch.dir}\n1|two words\n4\n`);
    await scratch.cleanup();
  });

  it('starts the child with no signal ignored or blocked, though node ignores SIGPIPE', async () => {
    const child = await spawnChild({ file: '/bin/cat', args: ['/proc/self/status'], env: [], stdio: ['null', 'pipe'] });
    assert.equal(child.fds[0], null);
    const status = await collect(socket(child.fds[1]));
    assert.deepEqual(await child.exited, { code: 0, signal: null });
    const field = (name: string): bigint => {
      const mask = new RegExp(`^${name}:\\s+([0-9a-f]+)$`, 'm').exec(status)?.[1];
      assert.ok(mask, `${name} in /proc/self/status`);
      return BigInt(`0x${mask}`);
    };
    const ours = readFileSync('/proc/self/status', 'utf8');
    assert.match(ours, /^SigIgn:\s+[0-9a-f]*[13579bdf][0-9a-f]{3}$/m, 'node ignores SIGPIPE (13: bit 0x1000)');
    assert.equal(field('SigIgn'), 0n);
    assert.equal(field('SigBlk'), 0n);
  });

  it('rejects a missing program with ENOENT from posix_spawn', async () => {
    await assert.rejects(spawnChild({ file: '/nonexistent/skiff-test-program', args: [], env: [], stdio: ['null'] }), (err: unknown) => {
      assert.ok(isNativeError(err));
      assert.equal(err.code, 'ENOENT');
      assert.equal(err.syscall, 'posix_spawn');
      assert.equal(err.path, '/nonexistent/skiff-test-program');
      return true;
    });
  });

  it('throws synchronously on bad options', () => {
    const bad = (stdio: unknown[], extra: Partial<SpawnChildOptions> = {}) => () =>
      spawnChild({ ...sh('true'), stdio: stdio as SpawnChildOptions['stdio'], ...extra });
    assert.throws(bad(['bogus']), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(bad(['null', true]), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /options\.stdio\[1\]/ });
    assert.throws(bad(['null', undefined]), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(bad([-1]), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(bad([1.5]), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(bad([2 ** 31]), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(bad([]), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(bad(new Array(17).fill('null')), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(bad('pipe' as unknown as unknown[]), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(bad(['null'], { args: ['a\0b'] }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(bad(['null'], { file: '' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => spawnChild(undefined as unknown as SpawnChildOptions), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('does not hold the event loop while the daemon holds 200 MB, unlike child_process.spawn', async (t) => {
    // Filled, so that every page is really there for fork to map.
    let ballast: Buffer[] = Array.from({ length: 200 }, () => Buffer.alloc(1 << 20, 0x5a));
    assert.ok(process.memoryUsage().rss > 200 * 2 ** 20);
    await (await spawnChild(sh('true'))).exited; // loads the addon

    const ours: number[] = [];
    const forked: number[] = [];
    for (let i = 0; i < 5; i++) {
      let spawned: Promise<{ exited: Promise<unknown> }> | undefined;
      ours.push(await loopStall(() => (spawned = spawnChild(sh('true')))));
      await (await spawned!).exited;

      let child: ReturnType<typeof forkSpawn> | undefined;
      forked.push(await loopStall(() => (child = forkSpawn('/bin/true', [], { stdio: 'ignore' }))));
      await once(child!, 'exit');
    }
    const best = (times: number[]): number => Math.min(...times);
    const show = (times: number[]): string => times.map((t) => t.toFixed(2)).join(', ');
    const rssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    t.diagnostic(`event loop stall at ${rssMb} MB RSS, ms: spawnChild ${show(ours)}; child_process.spawn ${show(forked)}`);
    assert.ok(best(ours) < best(forked), `spawnChild ${show(ours)} ms vs child_process.spawn ${show(forked)} ms`);
    assert.equal(ballast.length, 200);
    ballast = [];
  });
});
