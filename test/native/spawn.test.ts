import assert from 'node:assert/strict';
import { spawn as forkSpawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { isNativeError, runProgram, spawnChild, type RunProgramOptions, type SpawnChildOptions } from '../../src/native/index.js';
import { scratchDir } from '../helpers/daemon.js';
import { collect } from '../helpers/socket_text.js';

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

  it('waits for many children on one addon thread, each reaped once and told its own end', async () => {
    const threads = (): number => Number(readFileSync('/proc/self/status', 'utf8').match(/^Threads:\s+(\d+)$/m)![1]);
    await (await spawnChild(sh('true'))).exited; // the watcher is up
    const before = threads();
    const children = await Promise.all(Array.from({ length: 12 }, (_, i) => spawnChild(sh(`sleep 0.${(i % 4) + 1}; exit ${i}`))));
    const whileWaiting = threads();
    const ends = await Promise.all(children.map((c) => c.exited));
    assert.deepEqual(ends, children.map((_, i) => ({ code: i, signal: null })));
    // Reaped: the pids are no children of ours any more.
    for (const c of children) assert.throws(() => process.kill(c.pid, 0), { code: 'ESRCH' });
    // 12 waits, not 12 waiting threads (a spawn thread may still be on its way out).
    assert.ok(whileWaiting - before <= 2, `${before} threads before, ${whileWaiting} while 12 children ran`);
  });

  it('with unref, waiting for a child does not keep node alive; without, it does', async () => {
    const { dir, cleanup } = await scratchDir('unref-');
    try {
      const addon = join(process.cwd(), 'dist', 'src', 'native', 'index.js');
      const script = (unref: boolean): string =>
        `import { spawnChild } from ${JSON.stringify(addon)};\n` +
        `const c = await spawnChild({ file: '/bin/sleep', args: ['3'], env: [], stdio: ['null', 'null', 'null'], unref: ${unref} });\n` +
        `console.log(c.pid);\n`;
      const timed = async (unref: boolean): Promise<{ ms: number; pid: number }> => {
        const file = join(dir, `${unref}.mjs`);
        writeFileSync(file, script(unref));
        const t0 = performance.now();
        const proc = forkSpawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
        await once(proc, 'exit');
        return { ms: performance.now() - t0, pid: Number(out.trim()) };
      };
      // In this process: the wait still ends, and the child is reaped (a timer keeps node up meanwhile:
      // the wait itself does not).
      const child = await spawnChild({ ...sh('sleep 0.2; exit 6'), unref: true });
      const keepUp = setInterval(() => undefined, 1000);
      try {
        assert.deepEqual(await child.exited, { code: 6, signal: null });
      } finally {
        clearInterval(keepUp);
      }
      assert.throws(() => process.kill(child.pid, 0), { code: 'ESRCH' });

      const unref = await timed(true);
      assert.ok(unref.ms < 2500, `node exited after ${unref.ms.toFixed(0)} ms`);
      // The child outlived it (reparented), still asleep.
      assert.doesNotThrow(() => process.kill(unref.pid, 0));
      process.kill(unref.pid, 'SIGKILL');
      const held = await timed(false);
      assert.ok(held.ms >= 2900, `node exited after ${held.ms.toFixed(0)} ms, before its child`);
    } finally {
      await cleanup();
    }
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

describe('native runProgram', () => {
  const run = (script: string, extra: Partial<RunProgramOptions> = {}): RunProgramOptions => ({
    file: '/bin/sh',
    args: ['-c', script],
    env,
    timeoutMs: 10_000,
    maxOutput: 1 << 20,
    ...extra,
  });

  it('resolves with the exit code and both outputs as Buffers', async () => {
    const res = await runProgram(run('echo out; echo err >&2; exit 3'));
    assert.ok(Buffer.isBuffer(res.stdout) && Buffer.isBuffer(res.stderr));
    assert.deepEqual(
      { ...res, stdout: res.stdout.toString(), stderr: res.stderr.toString() },
      { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n', dropped: 0, stdoutDropped: 0, stderrDropped: 0, timedOut: false },
    );
  });

  it('feeds input to the child and reads it back, a string as UTF-8 and a Buffer larger than the socket buffers', async () => {
    const text = await runProgram({ ...run('cat'), input: 'héllo\n' });
    assert.equal(text.stdout.toString('utf8'), 'héllo\n');
    const big = Buffer.alloc(3 << 20, 'abcdefgh');
    const res = await runProgram({ ...run('cat'), input: big, maxOutput: 4 << 20 });
    assert.equal(res.code, 0);
    assert.ok(res.stdout.equals(big));
  });

  it('keeps maxOutput bytes of each stream and counts the rest', async () => {
    const res = await runProgram(run('head -c 100000 /dev/zero; echo 0123456789 >&2', { maxOutput: 4 }));
    assert.equal(res.code, 0);
    assert.equal(res.stdout.length, 4);
    assert.equal(res.stderr.toString(), '0123');
    assert.deepEqual([res.stdoutDropped, res.stderrDropped, res.dropped], [99_996, 7, 100_003]);
  });

  it('kills the child at the timeout', async () => {
    const t0 = performance.now();
    const res = await runProgram(run('echo started; exec sleep 30', { timeoutMs: 200 }));
    const took = performance.now() - t0;
    assert.equal(res.timedOut, true);
    assert.deepEqual([res.code, res.signal, res.stdout.toString()], [null, 9, 'started\n']);
    assert.ok(took >= 190 && took < 1500, `took ${took} ms`);
  });

  it('rejects a program that cannot be started, and throws on bad options', async () => {
    await assert.rejects(runProgram({ ...run(''), file: '/nonexistent/skiff-test-program' }), (err: unknown) => {
      assert.ok(isNativeError(err));
      assert.deepEqual([err.code, err.syscall, err.path], ['ENOENT', 'posix_spawn', '/nonexistent/skiff-test-program']);
      return true;
    });
    const bad = (extra: Record<string, unknown>) => () => runProgram({ ...run('true'), ...extra } as RunProgramOptions);
    assert.throws(bad({ input: 42 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /"options\.input" argument must be of type string or an instance of Buffer/ });
    assert.throws(bad({ timeoutMs: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(bad({ timeoutMs: undefined }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(bad({ maxOutput: 1.5 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(bad({ env: ['A=\0'] }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => runProgram(null as unknown as RunProgramOptions), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });
});
