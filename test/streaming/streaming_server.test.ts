// The streaming server's wire protocols, spoken by independent test clients,
// against a backend that runs real local processes and real TCP servers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { ExecOutcome, SessionStreams, StreamingBackend, TerminalSize } from '../../src/streaming/backend.js';
import { StreamServer } from '../../src/streaming/server.js';
import { spdyUpgrade, type SpdyClient } from '../helpers/spdy_client.js';
import { wsConnect } from '../helpers/ws_client.js';

const v4 = 'v4.channel.k8s.io';
const allRemoteCommand = ['v5.channel.k8s.io', v4, 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

/** Runs commands as local processes and "pod ports" as local TCP servers. */
class LocalBackend implements StreamingBackend {
  readonly resizes: TerminalSize[] = [];
  /** The size each exec started with, in order (undefined: the client sent none in time). */
  readonly initialSizes: (TerminalSize | undefined)[] = [];
  /** Bytes the last process wrote that the server's stdout accepted. */
  stdoutAccepted = 0;
  readonly podPorts = new Map<number, number>();
  readonly aborted: string[] = [];

  async exec(_id: string, cmd: string[], streams: SessionStreams, signal: AbortSignal): Promise<ExecOutcome> {
    this.stdoutAccepted = 0;
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: 'pipe' });
    signal.addEventListener('abort', () => {
      this.aborted.push(cmd.join(' '));
      child.kill('SIGKILL');
    });
    if (streams.stdin) streams.stdin.pipe(child.stdin);
    else child.stdin.end();
    child.stdin.on('error', () => undefined);
    const consumeResizes = (async () => {
      this.initialSizes.push(streams.initialSize);
      if (streams.initialSize) this.resizes.push(streams.initialSize);
      for await (const size of streams.resizes ?? []) this.resizes.push(size);
    })();
    if (streams.stdout) {
      child.stdout.on('data', (c: Buffer) => (this.stdoutAccepted += c.length));
      child.stdout.pipe(streams.stdout, { end: false });
    }
    if (streams.stderr) child.stderr.pipe(streams.stderr, { end: false });
    const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 137)));
    void consumeResizes;
    return { exitCode: code };
  }

  async attach(id: string, streams: SessionStreams, signal: AbortSignal): Promise<void> {
    await this.exec(id, ['cat'], streams, signal);
  }

  portForward(_pod: string, port: number): Promise<Duplex> {
    const real = this.podPorts.get(port);
    if (real === undefined) return Promise.reject(new Error(`connection refused on port ${port}`));
    return new Promise((resolve, reject) => {
      const s: Socket = connect(real, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
  }
}

/** A "pod" TCP server: greets with its name, upper-cases what it gets, says bye when the client half-closes. */
async function podServer(name: string): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.write(`hello from ${name}\n`);
    s.on('data', (c: Buffer) => s.write(c.toString().toUpperCase()));
    s.on('end', () => s.end(`bye from ${name}\n`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const execRequest = (cmd: string[], extra: Partial<{ stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }> = {}) => ({
  containerId: 'ctr',
  cmd,
  stdin: false,
  stdout: true,
  stderr: true,
  tty: false,
  ...extra,
});

describe('streaming server', () => {
  const backend = new LocalBackend();
  const log = pino({ level: 'silent' });
  let server: StreamServer;
  let shortLived: StreamServer;
  const pods: Server[] = [];
  const clients: SpdyClient[] = [];

  before(async () => {
    server = new StreamServer({ address: '127.0.0.1', port: 0, backend, log, streamCreationTimeoutMs: 2_000 });
    await server.start();
    shortLived = new StreamServer({ address: '127.0.0.1', port: 0, backend, log, tokenTtlMs: 50 });
    await shortLived.start();
    for (const name of ['one', 'two']) {
      const pod = await podServer(name);
      pods.push(pod);
      backend.podPorts.set(name === 'one' ? 8001 : 8002, (pod.address() as AddressInfo).port);
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.stop();
    await shortLived.stop();
    for (const p of pods) await new Promise((r) => p.close(r));
  });

  async function spdyExec(url: string, streams: string[], options: Parameters<typeof spdyUpgrade>[2] = {}) {
    const up = await spdyUpgrade(url, allRemoteCommand, options);
    assert.equal(up.status, 101, up.body);
    assert.equal(up.headers['x-stream-protocol-version'], v4);
    const client = up.client!;
    clients.push(client);
    const opened = new Map<string, Awaited<ReturnType<SpdyClient['openStream']>>>();
    for (const type of streams) opened.set(type, await client.openStream({ streamtype: type }));
    return { client, s: (t: string) => opened.get(t)! };
  }

  it('hands out URLs on its listener with distinct tokens', () => {
    const a = server.execUrl(execRequest(['true']));
    const b = server.execUrl(execRequest(['true']));
    assert.match(a, new RegExp(`^${server.baseUrl}/exec/[A-Za-z0-9_-]{22}$`));
    assert.notEqual(a, b);
  });

  it('SPDY exec: stdout, stderr, and exit code 3 as a v4 NonZeroExitCode status; then GOAWAY', async () => {
    const url = server.execUrl(execRequest(['sh', '-c', 'echo out; echo err >&2; exit 3']));
    const { client, s } = await spdyExec(url, ['error', 'stdout', 'stderr']);
    await Promise.all([s('stdout').ended, s('stderr').ended, s('error').ended]);
    assert.equal(s('stdout').text(), 'out\n');
    assert.equal(s('stderr').text(), 'err\n');
    const status = JSON.parse(s('error').text());
    assert.equal(status.status, 'Failure');
    assert.equal(status.reason, 'NonZeroExitCode');
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '3' }]);
    assert.deepEqual(status.metadata, {});
    await client.closed;
    assert.deepEqual(client.goAway, { lastGood: 5, status: 0 });
  });

  it('SPDY exec: success is {"metadata":{},"status":"Success"}; older protocols get no text', async () => {
    const { s } = await spdyExec(server.execUrl(execRequest(['true'], { stderr: false })), ['error', 'stdout']);
    await s('error').ended;
    assert.equal(s('error').text(), '{"metadata":{},"status":"Success"}');

    const up = await spdyUpgrade(server.execUrl(execRequest(['sh', '-c', 'exit 2'], { stderr: false })), ['v2.channel.k8s.io']);
    assert.equal(up.headers['x-stream-protocol-version'], 'v2.channel.k8s.io');
    const err = await up.client!.openStream({ streamtype: 'error' });
    await up.client!.openStream({ streamtype: 'stdout' });
    await err.ended;
    assert.equal(err.text(), 'command terminated with non-zero exit code: exit status 2');
  });

  it('SPDY exec: stdin reaches cat, and FIN on stdin is EOF', async () => {
    const url = server.execUrl(execRequest(['cat'], { stdin: true, stderr: false }));
    const { s } = await spdyExec(url, ['error', 'stdin', 'stdout']);
    s('stdin').write('first line\n');
    await s('stdout').until((st) => st.text() === 'first line\n');
    s('stdin').end('second\n');
    await s('error').ended;
    assert.equal(s('stdout').text(), 'first line\nsecond\n');
    assert.equal(JSON.parse(s('error').text()).status, 'Success');
  });

  it('a megabyte of stdin through cat comes back whole, over SPDY (with flow control) and WebSocket', async () => {
    const input = Buffer.alloc(1_000_000);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7) & 0xff;

    // With windows announced (but this client ignores ours when sending, so the server must not deadlock), and without.
    for (const flowControl of [true, false]) {
      const { s } = await spdyExec(server.execUrl(execRequest(['cat'], { stdin: true, stderr: false })), ['error', 'stdin', 'stdout'], { flowControl, autoAck: true });
      for (let i = 0; i < input.length; i += 32768) s('stdin').write(input.subarray(i, i + 32768));
      s('stdin').end();
      await s('error').ended;
      assert.ok(Buffer.concat(s('stdout').chunks).equals(input), `got ${s('stdout').received} bytes over SPDY (flow control ${flowControl})`);
    }

    const ws = await wsConnect(server.execUrl(execRequest(['cat'], { stdin: true, stderr: false })), ['v5.channel.k8s.io']);
    const c = ws.client!;
    for (let i = 0; i < input.length; i += 32768) c.sendChannel(0, input.subarray(i, i + 32768));
    c.send(Buffer.from([255, 0]));
    await c.closed;
    assert.ok(Buffer.concat(c.channel(1)).equals(input), `got ${Buffer.concat(c.channel(1)).length} bytes over WebSocket`);
  });

  it('SPDY exec with tty: resize messages reach the backend in order', async () => {
    backend.resizes.length = 0;
    const url = server.execUrl(execRequest(['cat'], { stdin: true, stderr: false, tty: true }));
    const { s } = await spdyExec(url, ['error', 'stdin', 'stdout', 'resize']);
    s('resize').write('{"Width":80,"Height":24}\n{"width":');
    s('resize').write('132,"height":50}\n');
    await s('stdout').until(() => backend.resizes.length === 2);
    assert.deepEqual(backend.resizes, [{ width: 80, height: 24 }, { width: 132, height: 50 }]);
    s('stdin').end();
    await s('error').ended;
  });

  it('SPDY exec with tty: the process starts with the first size the client sends; without one it still starts', async () => {
    const url = server.execUrl(execRequest(['true'], { stderr: false, tty: true }));
    const { s } = await spdyExec(url, ['error', 'stdout', 'resize']);
    s('resize').write('{"Width":91,"Height":33}\n');
    await s('error').ended;
    assert.deepEqual(backend.initialSizes.at(-1), { width: 91, height: 33 });

    const silent = await spdyExec(server.execUrl(execRequest(['true'], { stderr: false, tty: true })), ['error', 'stdout', 'resize']);
    await silent.s('error').ended;
    assert.equal(backend.initialSizes.at(-1), undefined);
    assert.equal(JSON.parse(silent.s('error').text()).status, 'Success');
  });

  it('SPDY exec: more than one 64 KiB window reaches a client without flow control (as Go spdystream)', async () => {
    const url = server.execUrl(execRequest(['head', '-c', '300000', '/dev/zero'], { stderr: false }));
    const { s } = await spdyExec(url, ['error', 'stdout'], { flowControl: false });
    await s('error').ended;
    assert.equal(s('stdout').received, 300000);
  });

  it('SPDY flow control: a client that stops granting window holds the process back', async () => {
    const url = server.execUrl(execRequest(['cat', '/dev/zero'], { stderr: false }));
    const { client, s } = await spdyExec(url, ['error', 'stdout'], { flowControl: true, autoAck: false });
    const out = s('stdout');
    await out.until((st) => st.received >= 65536);
    await sleep(500);
    const accepted = backend.stdoutAccepted;
    assert.equal(out.received, 65536, 'server sent beyond the stream window');
    assert.ok(accepted < 512 * 1024, `server accepted ${accepted} bytes for a client that took 64 KiB`);
    await sleep(300);
    assert.ok(backend.stdoutAccepted - accepted < 64 * 1024, 'process kept running ahead of the client');
    // Granting window lets more through.
    out.ack();
    await out.until((st) => st.received > 65536);
    client.close();
    await sleep(100);
    assert.ok(backend.aborted.includes('cat /dev/zero'), 'closing the connection kills the process');
  });

  it('SPDY without flow control: a client that stops reading its socket holds the process back', async () => {
    const url = server.execUrl(execRequest(['cat', '/dev/zero'], { stderr: false }));
    const { client } = await spdyExec(url, ['error', 'stdout'], { flowControl: false });
    client.socket.pause();
    await sleep(1500);
    const first = backend.stdoutAccepted;
    await sleep(700);
    const second = backend.stdoutAccepted;
    assert.ok(second - first < 256 * 1024, `still accepting output (${first} then ${second})`);
    assert.ok(second < 64 * 1024 * 1024, `buffered ${second} bytes for a stalled client`);
    client.close();
  });

  it('SPDY port-forward: two concurrent connections, bytes both ways, half-close passed on', async () => {
    const up = await spdyUpgrade(server.portForwardUrl({ podSandboxId: 'pod', port: [] }), ['portforward.k8s.io']);
    assert.equal(up.status, 101);
    assert.equal(up.headers['x-stream-protocol-version'], 'portforward.k8s.io');
    const client = up.client!;
    clients.push(client);
    const open = async (port: number, requestId: number) => {
      const error = await client.openStream({ streamtype: 'error', port: String(port), requestid: String(requestId) }, true);
      const data = await client.openStream({ streamtype: 'data', port: String(port), requestid: String(requestId) });
      return { error, data };
    };
    const [a, b] = await Promise.all([open(8001, 0), open(8002, 1)]);
    await a.data.until((s) => s.text() === 'hello from one\n');
    await b.data.until((s) => s.text() === 'hello from two\n');
    b.data.write('to two');
    a.data.write('to one');
    await a.data.until((s) => s.text().endsWith('TO ONE'));
    await b.data.until((s) => s.text().endsWith('TO TWO'));
    a.data.end();
    b.data.end('!');
    await Promise.all([a.data.ended, b.data.ended, a.error.ended, b.error.ended]);
    assert.equal(a.data.text(), 'hello from one\nTO ONEbye from one\n');
    assert.equal(b.data.text(), 'hello from two\nTO TWO!bye from two\n');
    assert.equal(a.error.text(), '');
    // A port nothing listens on: the error stream says so.
    const c = await open(8003, 2);
    await c.error.ended;
    assert.match(c.error.text(), /^error forwarding port 8003 to pod pod: connection refused/);
    client.close();
  });

  it('tokens are single-use, expire, and unknown ones are 404', async () => {
    const url = server.execUrl(execRequest(['true'], { stderr: false }));
    const first = await spdyUpgrade(url, allRemoteCommand);
    assert.equal(first.status, 101);
    first.client!.close();
    const again = await spdyUpgrade(url, allRemoteCommand);
    assert.equal(again.status, 404);
    assert.equal((await spdyUpgrade(`${server.baseUrl}/exec/AAAAAAAAAAAA`, allRemoteCommand)).status, 404);
    // An exec token is not a port-forward token.
    const pf = server.execUrl(execRequest(['true'])).replace('/exec/', '/portforward/');
    assert.equal((await spdyUpgrade(pf, ['portforward.k8s.io'])).status, 404);

    const expiring = shortLived.execUrl(execRequest(['true']));
    await sleep(120);
    assert.equal((await spdyUpgrade(expiring, allRemoteCommand)).status, 404);
    const fresh = shortLived.execUrl(execRequest(['true']));
    const ok = await spdyUpgrade(fresh, allRemoteCommand);
    assert.equal(ok.status, 101);
    ok.client!.close();
  });

  it('refuses bad upgrades: no upgrade, no protocol header, no common protocol, wrong method', async () => {
    const plain = await fetch(server.execUrl(execRequest(['true'])), { method: 'POST' });
    assert.equal(plain.status, 400);
    assert.match(await plain.text(), /missing upgrade headers/);

    const noVersion = await spdyUpgrade(server.execUrl(execRequest(['true'])), []);
    assert.equal(noVersion.status, 400);
    assert.match(noVersion.body, /X-Stream-Protocol-Version is required/);

    const noMatch = await spdyUpgrade(server.execUrl(execRequest(['true'])), ['v9.channel.k8s.io']);
    assert.equal(noMatch.status, 403);
    assert.match(String(noMatch.headers['x-accepted-stream-protocol-versions']), /v4\.channel\.k8s\.io/);

    const h2 = await spdyUpgrade(server.execUrl(execRequest(['true'])), allRemoteCommand, { upgrade: 'h2c' });
    assert.equal(h2.status, 400);

    const put = await spdyUpgrade(server.execUrl(execRequest(['true'])), allRemoteCommand, { method: 'PUT' });
    assert.equal(put.status, 405);
  });

  it('a client that never opens its streams gets a timeout on the error stream', async () => {
    const up = await spdyUpgrade(server.execUrl(execRequest(['true'])), allRemoteCommand);
    const error = await up.client!.openStream({ streamtype: 'error' });
    await error.ended;
    assert.equal(error.text(), 'timed out waiting for client to create streams');
    await up.client!.closed;
  });

  it('answers pings and refuses unexpected streams', async () => {
    const url = server.execUrl(execRequest(['cat'], { stdin: true, stderr: false }));
    const up = await spdyUpgrade(url, allRemoteCommand);
    const client = up.client!;
    clients.push(client);
    client.ping(7);
    await assert.rejects(client.openStream({ streamtype: 'stderr' }), /reset with status 3/);
    await assert.rejects(client.openStream({ streamtype: 'bogus' }), /reset with status 3/);
    const deadline = Date.now() + 2000;
    while (!client.pings.includes(7) && Date.now() < deadline) await sleep(10);
    assert.deepEqual(client.pings, [7]);
    client.close();
  });

  it('an idle session is cut off and its process killed; stop() ends open sessions', async () => {
    const idle = new StreamServer({ address: '127.0.0.1', port: 0, backend, log, idleTimeoutMs: 300 });
    await idle.start();
    try {
      const up = await spdyUpgrade(idle.execUrl(execRequest(['sleep', '61'], { stderr: false })), allRemoteCommand);
      await up.client!.openStream({ streamtype: 'error' });
      await up.client!.openStream({ streamtype: 'stdout' });
      await up.client!.closed;
      await sleep(50);
      assert.ok(backend.aborted.includes('sleep 61'));

      const open = await spdyUpgrade(idle.execUrl(execRequest(['sleep', '62'], { stderr: false })), allRemoteCommand);
      await open.client!.openStream({ streamtype: 'error' });
      await open.client!.openStream({ streamtype: 'stdout' });
      await idle.stop();
      await open.client!.closed;
      await sleep(50);
      assert.ok(backend.aborted.includes('sleep 62'));
    } finally {
      await idle.stop();
    }
  });

  it('WebSocket v5 exec: ready message, stdout/stderr channels, exit status on channel 3, normal close', async () => {
    const url = server.execUrl(execRequest(['sh', '-c', 'echo out; echo err >&2; exit 3']));
    const ws = await wsConnect(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
    assert.equal(ws.status, 101);
    assert.equal(ws.protocol, 'v5.channel.k8s.io');
    const c = ws.client!;
    await c.closed;
    assert.deepEqual([...c.messages[0]!.data], [1], 'first message is an empty one on stdout');
    assert.equal(c.channelText(1), 'out\n');
    assert.equal(c.channelText(2), 'err\n');
    const status = JSON.parse(c.channelText(3));
    assert.equal(status.reason, 'NonZeroExitCode');
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '3' }]);
    assert.equal(c.closeCode, 1000);
  });

  it('WebSocket v5 exec: fragmented stdin to cat, close-stream message is EOF, ping answered', async () => {
    const ws = await wsConnect(server.execUrl(execRequest(['cat'], { stdin: true, stderr: false })), ['v5.channel.k8s.io']);
    const c = ws.client!;
    c.ping(Buffer.from('hb'));
    c.send(Buffer.concat([Buffer.from([0]), Buffer.from('fragmented input\n')]), true, 3);
    await c.until(() => c.channelText(1) === 'fragmented input\n');
    c.send(Buffer.from([255, 0]));
    await c.closed;
    assert.equal(JSON.parse(c.channelText(3)).status, 'Success');
    assert.deepEqual(c.pongs.map(String), ['hb']);
  });

  it('WebSocket v4 base64 exec and tty resize', async () => {
    backend.resizes.length = 0;
    const ws = await wsConnect(server.execUrl(execRequest(['cat'], { stdin: true, stderr: false, tty: true })), ['v4.base64.channel.k8s.io']);
    const c = ws.client!;
    assert.equal(ws.protocol, 'v4.base64.channel.k8s.io');
    c.send(Buffer.from('4' + Buffer.from('{"Width":100,"Height":40}\n').toString('base64')), false);
    c.send(Buffer.from('0' + Buffer.from('hi\n').toString('base64')), false);
    await c.until(() => c.messages.some((m) => !m.binary && Buffer.from(m.data.subarray(1).toString(), 'base64').toString() === 'hi\n'));
    assert.deepEqual(backend.resizes, [{ width: 100, height: 40 }]);
    assert.equal(c.messages[0]!.data.toString(), '1', 'ready message on stdout, base64 framing');
    c.close();
    await c.closed;
  });

  it('WebSocket: unsupported subprotocol is refused', async () => {
    const ws = await wsConnect(server.execUrl(execRequest(['true'])), ['v9.channel.k8s.io']);
    assert.equal(ws.status, 400);
    assert.match(ws.body, /not supported/);
  });

  it('WebSocket port-forward: port prefix on both channels, bytes both ways on two ports', async () => {
    const url = server.portForwardUrl({ podSandboxId: 'pod', port: [] }) + '?port=8001&port=8002';
    const ws = await wsConnect(url, ['v4.channel.k8s.io']);
    assert.equal(ws.protocol, 'v4.channel.k8s.io');
    const c = ws.client!;
    await c.until(() => c.channel(0).length >= 2 && c.channel(2).length >= 2);
    const le = (port: number) => Buffer.from([port & 0xff, port >> 8]);
    assert.deepEqual(c.channel(0)[0], le(8001));
    assert.deepEqual(c.channel(1)[0], le(8001));
    assert.deepEqual(c.channel(2)[0], le(8002));
    assert.deepEqual(c.channel(3)[0], le(8002));
    c.sendChannel(0, 'abc');
    c.sendChannel(2, 'xyz');
    const data = (ch: number) => Buffer.concat(c.channel(ch).slice(1)).toString();
    await c.until(() => data(0) === 'hello from one\nABC' && data(2) === 'hello from two\nXYZ');
    c.close();
    await c.closed;
  });
});
