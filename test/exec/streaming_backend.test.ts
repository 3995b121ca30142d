import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { ContainerStreamingBackend } from '../../src/exec/streaming_backend.js';
import type { SessionStreams, TerminalSize } from '../../src/streaming/backend.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { pushBusybox } from '../helpers/busybox_image.js';
import { containerConfig, execProblem, podConfig } from './fixtures.js';
import { openInProcessRuntime, type InProcessRuntime } from './in_process.js';

const problem = await execProblem();

/** A writable that remembers what it got, as text. */
function collector(): Writable & { text: () => string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return Object.assign(w, { text: () => Buffer.concat(chunks).toString() });
}

/** Terminal sizes pushed by the test, as the server's resize stream would deliver them. */
class Resizes implements AsyncIterable<TerminalSize> {
  private readonly queue: TerminalSize[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  push(size: TerminalSize): void {
    this.queue.push(size);
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<TerminalSize> {
    for (;;) {
      const next = this.queue.shift();
      if (next) yield next;
      else if (this.ended) return;
      else await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !check(); await sleep(25)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('streaming backend: exec, attach and port-forward on real containers', { skip: problem || false }, () => {
  let registry: TestRegistry;
  let rt: InProcessRuntime;
  let backend: ContainerStreamingBackend;
  let image: string;
  let podId: string;
  let pod: Record<string, any>;
  let idle: string;

  before(async () => {
    registry = await startRegistry();
    image = await pushBusybox(registry, 'exec/streaming');
    rt = await openInProcessRuntime({ insecureRegistry: registry.host, image, bridge: `sky${process.pid % 10000}`, subnet: '10.231.24.0/24' });
    pod = podConfig('streaming', join(rt.config.runroot, 'pod-logs'));
    podId = await rt.runPod(pod);
    backend = new ContainerStreamingBackend(rt.containers);
    idle = await rt.runContainer(podId, pod, containerConfig(image, 'idle', ['sleep', '1000']));
  });
  after(async () => {
    await rt?.close();
    await registry?.stop();
  });

  const session = (streams: Partial<SessionStreams>): SessionStreams => ({ tty: false, ...streams });

  it('exec without a terminal: stdin reaches the process, its end is EOF, stdout/stderr/exit code come back', async () => {
    const stdin = new PassThrough();
    const stdout = collector();
    const stderr = collector();
    const done = backend.exec(idle, ['sh', '-c', 'cat; echo bye >&2; exit 5'], session({ stdin, stdout, stderr }), new AbortController().signal);
    stdin.write('line one\n');
    await until('the first line echoed back', () => stdout.text() === 'line one\n');
    stdin.end('tail');
    assert.deepEqual(await done, { exitCode: 5 });
    assert.equal(stdout.text(), 'line one\ntail');
    assert.equal(stderr.text(), 'bye\n');
  });

  it('exec output waits for a slow client instead of piling up', async () => {
    let release: (() => void) | undefined;
    let received = 0;
    let held = true;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        if (held) release = cb;
        else cb();
      },
    });
    const done = backend.exec(idle, ['head', '-c', '20000000', '/dev/zero'], session({ stdout: slow }), new AbortController().signal);
    let finished = false;
    void done.then(() => (finished = true));
    await sleep(1500);
    assert.equal(finished, false, 'the command finished while its reader was stalled');
    assert.ok(received < 1024 * 1024, `${received} bytes were taken while the reader was stalled`);
    held = false;
    release?.();
    assert.deepEqual(await done, { exitCode: 0 });
    assert.equal(received, 20_000_000);
  });

  it('aborting an exec kills the process', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const done = backend.exec(idle, ['sleep', '77'], session({ stdout: collector() }), abort.signal);
    await sleep(300);
    abort.abort();
    await assert.rejects(done, { code: status.CANCELLED });
    assert.ok(Date.now() - started < 5000);
    const ps = collector();
    await backend.exec(idle, ['ps', '-o', 'args'], session({ stdout: ps }), new AbortController().signal);
    assert.doesNotMatch(ps.text(), /sleep 77/);
  });

  it('exec with a terminal: resizes reach it, input is read, the exit code comes back', async () => {
    const stdin = new PassThrough();
    const stdout = collector();
    const resizes = new Resizes();
    const script = 'while [ "$(stty size)" != "40 100" ]; do sleep 0.1; done; echo resized; read line; echo "got $line"; exit 4';
    const done = backend.exec(idle, ['sh', '-c', script], { stdin, stdout, tty: true, resizes }, new AbortController().signal);
    await sleep(200);
    resizes.push({ width: 100, height: 40 });
    await until('the new size seen in the container', () => stdout.text().includes('resized'));
    stdin.write('abc\n');
    assert.deepEqual(await done, { exitCode: 4 });
    resizes.end();
    assert.match(stdout.text(), /got abc\r\n/);
  });

  it('a terminal session starts at the client\'s initial size: exec from the first instruction, attach before input', async () => {
    const stdout = collector();
    const done = backend.exec(idle, ['stty', 'size'], { stdout, tty: true, initialSize: { width: 123, height: 45 } }, new AbortController().signal);
    assert.deepEqual(await done, { exitCode: 0 });
    assert.equal(stdout.text(), '45 123\r\n');

    const id = await rt.runContainer(podId, pod, containerConfig(image, 'sized', ['sh', '-c', 'while :; do stty size; sleep 0.1; done'], { tty: true, stdin: true }));
    const attached = collector();
    const abort = new AbortController();
    const attach = backend.attach(id, { stdout: attached, tty: true, initialSize: { width: 88, height: 22 } }, abort.signal);
    await until('the initial size seen in the container', () => attached.text().includes('22 88'));
    abort.abort();
    await attach;
  });

  it('attach: output of a running container, routed by stream; stdin_once input and its end', async () => {
    const id = await rt.runContainer(
      podId,
      pod,
      containerConfig(image, 'reader', ['sh', '-c', 'while read l; do echo "out $l"; echo "err $l" >&2; done; echo bye'], { stdin: true, stdinOnce: true }),
    );
    const stdin = new PassThrough();
    const stdout = collector();
    const stderr = collector();
    const done = backend.attach(id, session({ stdin, stdout, stderr }), new AbortController().signal);
    await sleep(200);
    stdin.write('x\n');
    await until('the echo of x', () => stdout.text().includes('out x') && stderr.text().includes('err x'));
    // Closing stdin closes the container's stdin (stdin_once): the loop ends, the container exits, the attach ends.
    stdin.end();
    await done;
    assert.match(stdout.text(), /bye/);
    await until('the container recorded as exited', () => rt.containers.containers.get(id)?.phase === 'exited');
  });

  it('attach: leaving keeps the container running; a terminal container gets resizes through conmon', async () => {
    // The kernel signals a terminal's foreground process group when its size changes.
    const script = "trap 'echo winched' WINCH; while :; do echo tick; sleep 0.2; done";
    const id = await rt.runContainer(podId, pod, containerConfig(image, 'sizer', ['sh', '-c', script], { tty: true, stdin: true }));
    const stdout = collector();
    const resizes = new Resizes();
    const abort = new AbortController();
    const done = backend.attach(id, { stdout, tty: true, resizes }, abort.signal);
    await until('output through the attach socket', () => stdout.text().includes('tick'));
    resizes.push({ width: 90, height: 30 });
    await until('the resize seen in the container', () => stdout.text().includes('winched'));
    abort.abort();
    await done;
    await sleep(300);
    assert.equal(rt.containers.containers.get(id)?.phase, 'running');
  });

  it('port-forward: bytes both ways with a server in the pod; refused ports and bad requests fail clearly', async () => {
    await rt.runContainer(podId, pod, containerConfig(image, 'echo-server', ['nc', '-l', '-p', '7777', '-e', 'cat']));
    let conn;
    for (const deadline = Date.now() + 10_000; ; await sleep(100)) {
      try {
        conn = await backend.portForward(podId, 7777);
        break;
      } catch (err) {
        if ((err as { code?: number }).code !== status.UNAVAILABLE || Date.now() > deadline) throw err;
      }
    }
    const got: Buffer[] = [];
    conn.on('data', (d: Buffer) => got.push(d));
    conn.write('ping through the pod\n');
    await until('the echo', () => Buffer.concat(got).toString() === 'ping through the pod\n');
    conn.destroy();

    await assert.rejects(backend.portForward(podId, 7778), (err: { code: number; message: string }) => {
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.message, /localhost:7778.*connection refused/);
      return true;
    });
    await assert.rejects(backend.portForward('f'.repeat(64), 80), { code: status.NOT_FOUND });
    await assert.rejects(backend.portForward(podId, 0), { code: status.INVALID_ARGUMENT });
    // The host's loopback is not the pod's: a host listener on the port is not reached.
    const host = createServer((s) => s.end('host'));
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    try {
      await assert.rejects(backend.portForward(podId, (host.address() as AddressInfo).port), { code: status.UNAVAILABLE });
    } finally {
      host.close();
    }
  });

  it('exec and attach refuse unknown and stopped containers', async () => {
    await assert.rejects(backend.exec('f'.repeat(64), ['true'], session({}), new AbortController().signal), { code: status.NOT_FOUND });
    await assert.rejects(backend.exec(idle, [], session({}), new AbortController().signal), { code: status.INVALID_ARGUMENT });
    const quick = await rt.runContainer(podId, pod, containerConfig(image, 'quick', ['true']));
    await until('the quick container exited', () => rt.containers.containers.get(quick)?.phase === 'exited');
    await assert.rejects(backend.attach(quick, session({ stdout: collector() }), new AbortController().signal), { code: status.FAILED_PRECONDITION });
    await assert.rejects(backend.exec(quick, ['true'], session({}), new AbortController().signal), { code: status.FAILED_PRECONDITION });
  });
});
