// Exec, Attach and PortForward end to end: the daemon's RPCs hand out URLs,
// the test's own SPDY and WebSocket clients speak the wire protocols to the
// daemon's streaming server, and real containers (runc under conmon, CNI
// bridge, a busybox image from a real registry) run the commands and serve
// the forwarded port.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { ImageDaemon } from '../helpers/image_daemon.js';
import { startContainer, startRuntimeDaemon, type RuntimeDaemon } from '../helpers/runtime_daemon.js';
import { spdyUpgrade, type SpdyClient } from '../helpers/spdy_client.js';
import { wsConnect } from '../helpers/ws_client.js';
import { containerConfig, execProblem, podConfig } from '../exec/fixtures.js';

const problem = await execProblem();
const remoteCommand = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

describe('streaming through the daemon with real containers', { skip: problem || false }, () => {
  let fx: RuntimeDaemon;
  let daemon: ImageDaemon;
  let image: string;
  let podId: string;
  let pod: Record<string, any>;
  let sleeper: string;
  const clients: SpdyClient[] = [];

  before(async () => {
    fx = await startRuntimeDaemon({ suite: 'streaming', bridge: `skw${process.pid % 10000}`, subnet: '10.231.57.0/24' });
    ({ daemon, image } = fx);
    pod = podConfig('streaming', fx.logDir);
    podId = (await daemon.client.runtime.RunPodSandbox!({ config: pod })).podSandboxId;
    sleeper = await runningContainer('sleeper', ['sleep', '1000']);
  });
  after(async () => {
    for (const c of clients) c.close();
    await fx?.cleanup();
  });

  function runningContainer(name: string, command: string[], extra: Record<string, unknown> = {}): Promise<string> {
    return startContainer(fx, { id: podId, config: pod }, containerConfig(image, name, command, extra));
  }

  const execUrl = async (cmd: string[], extra: Record<string, boolean> = {}) =>
    (await daemon.client.runtime.Exec!({ containerId: sleeper, cmd, stdin: false, stdout: true, stderr: true, tty: false, ...extra })).url;

  async function spdySession(url: string, protocols: string[], streams: Record<string, string>[]) {
    const up = await spdyUpgrade(url, protocols);
    assert.equal(up.status, 101, up.body);
    const client = up.client!;
    clients.push(client);
    const opened = [];
    for (const headers of streams) opened.push(await client.openStream(headers, headers.streamtype === 'error' && 'port' in headers));
    return { client, opened };
  }

  it('validates Exec, Attach and PortForward requests with clear statuses', async () => {
    const rt = daemon.client.runtime;
    const code = (p: Promise<unknown>) => p.then(() => 'OK', (e: { code: number; details: string }) => `${e.code}: ${e.details}`);
    const base = { containerId: sleeper, cmd: ['true'], stdin: false, stdout: true, stderr: false, tty: false };
    assert.match(await code(rt.Exec!({ ...base, containerId: '' })), new RegExp(`^${status.INVALID_ARGUMENT}: container_id`));
    assert.match(await code(rt.Exec!({ ...base, containerId: 'nosuchcontainer' })), new RegExp(`^${status.NOT_FOUND}: `));
    assert.match(await code(rt.Exec!({ ...base, cmd: [] })), new RegExp(`^${status.INVALID_ARGUMENT}: cmd`));
    assert.match(await code(rt.Exec!({ ...base, stdout: false })), new RegExp(`^${status.INVALID_ARGUMENT}: one of stdin, stdout, or stderr`));
    assert.match(await code(rt.Exec!({ ...base, tty: true, stderr: true })), new RegExp(`^${status.INVALID_ARGUMENT}: tty and stderr`));
    assert.match(await code(rt.Attach!({ containerId: '', stdin: false, stdout: true, stderr: false, tty: false })), new RegExp(`^${status.INVALID_ARGUMENT}: container_id`));
    assert.match(await code(rt.PortForward!({ podSandboxId: '', port: [] })), new RegExp(`^${status.INVALID_ARGUMENT}: pod_sandbox_id`));
    assert.match(await code(rt.PortForward!({ podSandboxId: 'nosuchpod', port: [] })), new RegExp(`^${status.NOT_FOUND}: `));
    const done = await runningContainer('done', ['true']);
    for (let i = 0; i < 100; i++) {
      const s = await rt.ContainerStatus!({ containerId: done, verbose: false });
      if (s.status?.state === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(await code(rt.Exec!({ ...base, containerId: done })), new RegExp(`^${status.FAILED_PRECONDITION}: .*not running`));
  });

  it('SPDY exec of echo, and a failing command\'s exit code in the v4 status', async () => {
    const url = await execUrl(['echo', 'hello from exec'], { stderr: false });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]+$/);
    const { client, opened } = await spdySession(url, remoteCommand, [{ streamtype: 'error' }, { streamtype: 'stdout' }]);
    const [error, stdout] = opened as [NonNullable<(typeof opened)[0]>, NonNullable<(typeof opened)[0]>];
    await error.ended;
    assert.equal(stdout.text(), 'hello from exec\n');
    assert.equal(error.text(), '{"metadata":{},"status":"Success"}');
    await client.closed;

    const failing = await spdySession(await execUrl(['sh', '-c', 'echo out; echo err >&2; exit 3']), remoteCommand, [
      { streamtype: 'error' },
      { streamtype: 'stdout' },
      { streamtype: 'stderr' },
    ]);
    const [e, o, se] = failing.opened;
    await e!.ended;
    assert.equal(o!.text(), 'out\n');
    assert.equal(se!.text(), 'err\n');
    const st = JSON.parse(e!.text());
    assert.equal(st.reason, 'NonZeroExitCode');
    assert.deepEqual(st.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  });

  it('SPDY exec with stdin: cat in the container echoes until EOF', async () => {
    const url = await execUrl(['cat'], { stdin: true, stderr: false });
    const { opened } = await spdySession(url, remoteCommand, [{ streamtype: 'error' }, { streamtype: 'stdin' }, { streamtype: 'stdout' }]);
    const [error, stdin, stdout] = opened;
    stdin!.write('through the container\n');
    await stdout!.until((s) => s.text() === 'through the container\n');
    stdin!.end();
    await error!.ended;
    assert.equal(JSON.parse(error!.text()).status, 'Success');
  });

  it('WebSocket (v5) exec: output channels, exit status, normal close', async () => {
    const ws = await wsConnect(await execUrl(['sh', '-c', 'echo via websocket; exit 5']), ['v5.channel.k8s.io']);
    assert.equal(ws.status, 101);
    const c = ws.client!;
    await c.closed;
    assert.equal(c.channelText(1), 'via websocket\n');
    assert.deepEqual(JSON.parse(c.channelText(3)).details.causes, [{ reason: 'ExitCode', message: '5' }]);
    assert.equal(c.closeCode, 1000);
  });

  it('SPDY attach: stdin to the container\'s own cat comes back on stdout', async () => {
    const id = await runningContainer('attached', ['cat'], { stdin: true });
    const { url } = await daemon.client.runtime.Attach!({ containerId: id, stdin: true, stdout: true, stderr: true, tty: false });
    const { client, opened } = await spdySession(url, remoteCommand, [{ streamtype: 'error' }, { streamtype: 'stdin' }, { streamtype: 'stdout' }, { streamtype: 'stderr' }]);
    opened[1]!.write('attached line\n');
    await opened[2]!.until((s) => s.text().includes('attached line\n'), 15_000);
    client.close();
  });

  /** The command lines of the sleeper's processes, as ExecSync `ps` sees them. */
  async function processes(): Promise<string> {
    const reply = await daemon.client.runtime.ExecSync!({ containerId: sleeper, cmd: ['ps', '-o', 'args'], timeout: 0 });
    return Buffer.from(reply.stdout).toString();
  }

  async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
    for (const deadline = Date.now() + ms; !(await check()); await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    }
  }

  it('SPDY tty exec: the process starts at the size the client sends first, and a later resize reaches it', async () => {
    const script = 'stty size; while [ "$(stty size)" != "30 100" ]; do sleep 0.1; done; echo resized';
    const url = await execUrl(['sh', '-c', script], { stdin: true, stderr: false, tty: true });
    const { opened } = await spdySession(url, remoteCommand, [{ streamtype: 'error' }, { streamtype: 'stdin' }, { streamtype: 'stdout' }, { streamtype: 'resize' }]);
    const [error, , stdout, resize] = opened;
    // As client-go does: the terminal's size as soon as the resize stream is open.
    resize!.write('{"Width":123,"Height":45}\n');
    await stdout!.until((s) => s.text().includes('\n'));
    assert.equal(stdout!.text().split('\r\n')[0], '45 123');
    resize!.write('{"Width":100,"Height":30}\n');
    await stdout!.until((s) => s.text().includes('resized'));
    await error!.ended;
    assert.equal(JSON.parse(error!.text()).status, 'Success');
  });

  it('WebSocket tty exec: the process starts at the size sent on the resize channel', async () => {
    const ws = await wsConnect(await execUrl(['stty', 'size'], { stderr: false, tty: true }), ['v5.channel.k8s.io']);
    assert.equal(ws.status, 101);
    const c = ws.client!;
    c.sendChannel(4, '{"Width":77,"Height":22}');
    await c.closed;
    assert.equal(c.channelText(1), '22 77\r\n');
  });

  it('a client that drops mid-exec ends the exec process in the container', async () => {
    for (const tty of [false, true]) {
      const marker = tty ? '4343' : '4242';
      const url = await execUrl(['sleep', marker], { stdin: tty, stderr: !tty, tty });
      const streams = [{ streamtype: 'error' }, ...(tty ? [{ streamtype: 'stdin' }] : []), { streamtype: 'stdout' }, { streamtype: tty ? 'resize' : 'stderr' }];
      const { client } = await spdySession(url, remoteCommand, streams);
      await eventually(`sleep ${marker} running`, async () => (await processes()).includes(`sleep ${marker}`));
      client.close();
      await eventually(`sleep ${marker} gone after the client dropped`, async () => !(await processes()).includes(`sleep ${marker}`));
    }
  });

  it('SPDY port-forward: ten concurrent connections over one client connection, each its own bytes', async () => {
    await runningContainer('upper', ['nc', '-ll', '-p', '8090', '-e', 'tr', 'a-z', 'A-Z']);
    const { url } = await daemon.client.runtime.PortForward!({ podSandboxId: podId, port: [8090] });
    const up = await spdyUpgrade(url, ['portforward.k8s.io']);
    assert.equal(up.status, 101, up.body);
    const client = up.client!;
    clients.push(client);
    let requests = 0;
    /** One forwarded connection: sends `text`, half-closes, resolves with what came back. */
    const roundTrip = async (text: string) => {
      const requestid = String(requests++);
      const error = await client.openStream({ streamtype: 'error', port: '8090', requestid }, true);
      const data = await client.openStream({ streamtype: 'data', port: '8090', requestid });
      data.end(text);
      await Promise.all([data.ended, error.ended]);
      return { reply: data.text(), error: error.text() };
    };
    // The server may still be starting: the first connection is retried until it is answered.
    await eventually('the pod server answering', async () => (await roundTrip('ping')).reply === 'PING');
    const payloads = Array.from({ length: 10 }, (_, i) => `connection ${i}: ${'abcdefghij'.repeat(10_000)}`);
    const results = await Promise.all(payloads.map(roundTrip));
    results.forEach((r, i) => {
      assert.equal(r.error, '', `connection ${i} reported an error`);
      assert.equal(r.reply.length, payloads[i]!.length, `connection ${i} got ${r.reply.length} bytes back`);
      assert.equal(r.reply, payloads[i]!.toUpperCase());
    });
    client.close();
  });

  it('port-forward over SPDY and WebSocket to a busybox nc server in the pod', async () => {
    await runningContainer('server', ['nc', '-ll', '-p', '8080', '-e', 'sh', '-c', 'echo hello-from-pod; tr a-z A-Z']);
    const { url } = await daemon.client.runtime.PortForward!({ podSandboxId: podId, port: [8080] });
    const up = await spdyUpgrade(url, ['portforward.k8s.io']);
    assert.equal(up.status, 101, up.body);
    const client = up.client!;
    clients.push(client);
    const connectPair = async (requestid: string) => {
      // The server may still be starting: retry a refused connection briefly.
      for (let attempt = 0; ; attempt++) {
        const error = await client.openStream({ streamtype: 'error', port: '8080', requestid }, true);
        const data = await client.openStream({ streamtype: 'data', port: '8080', requestid });
        await Promise.race([data.until((s) => s.text().length > 0, 5_000).catch(() => undefined), error.ended]);
        if (data.text().length > 0 || attempt >= 20) return { error, data };
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const [a, b] = await Promise.all([connectPair('0'), connectPair('1')]);
    await a.data.until((s) => s.text() === 'hello-from-pod\n');
    await b.data.until((s) => s.text() === 'hello-from-pod\n');
    a.data.write('first connection\n');
    b.data.write('second connection\n');
    await a.data.until((s) => s.text().endsWith('FIRST CONNECTION\n'));
    await b.data.until((s) => s.text().endsWith('SECOND CONNECTION\n'));
    a.data.end();
    b.data.end();
    await Promise.all([a.error.ended, b.error.ended]);
    assert.equal(a.error.text(), '');
    client.close();

    const pf = await daemon.client.runtime.PortForward!({ podSandboxId: podId, port: [8080] });
    const ws = await wsConnect(pf.url, ['v4.channel.k8s.io']);
    assert.equal(ws.status, 101);
    const c = ws.client!;
    const data = () => Buffer.concat(c.channel(0).slice(1)).toString();
    await c.until(() => data() === 'hello-from-pod\n');
    c.sendChannel(0, 'over websocket\n');
    await c.until(() => data().endsWith('OVER WEBSOCKET\n'));
    c.close();
    await c.closed;
  });
});
