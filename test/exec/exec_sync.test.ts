import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { DaemonClient } from '../../src/cli/daemon_client.js';
import { execSyncOutputLimit } from '../../src/config/schema.js';
import { RuntimeServiceName } from '../../src/proto/cri.js';
import type { ImageDaemon } from '../helpers/image_daemon.js';
import { startContainer, startRuntimeDaemon, type RuntimeDaemon } from '../helpers/runtime_daemon.js';
import { containerConfig, execProblem, podConfig } from './fixtures.js';

const problem = await execProblem();

describe('ExecSync on runc', { skip: problem || false }, () => {
  let fx: RuntimeDaemon;
  let daemon: ImageDaemon;
  let image: string;
  let podId: string;
  let pod: Record<string, any>;
  /** Takes replies up to the 16 MiB the kubelet accepts. */
  let bigClient: DaemonClient;

  before(async () => {
    fx = await startRuntimeDaemon({ suite: 'exec', bridge: `skx${process.pid % 10000}`, subnet: '10.231.23.0/24' });
    ({ daemon, image } = fx);
    pod = podConfig('execsync', fx.logDir);
    podId = (await daemon.client.runtime.RunPodSandbox!({ config: pod })).podSandboxId;
    bigClient = new DaemonClient(daemon.socket, { 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  });
  after(async () => {
    bigClient?.close();
    await fx?.cleanup();
  });

  const runningContainer = (name: string, command: string[], extra: Record<string, unknown> = {}): Promise<string> =>
    startContainer(fx, { id: podId, config: pod }, containerConfig(image, name, command, extra));

  const execSync = (containerId: string, cmd: string[], timeout = 0) => daemon.client.runtime.ExecSync!({ containerId, cmd, timeout });

  it('returns stdout, stderr and the exit code, in the container\'s env, cwd and user', async () => {
    const id = await runningContainer('basics', ['sleep', '1000'], { envs: [{ key: 'GREETING', value: Buffer.from('hi there') }], workingDir: '/tmp' });
    const echo = await execSync(id, ['echo', 'hello']);
    assert.equal(Buffer.from(echo.stdout).toString(), 'hello\n');
    assert.equal(echo.stderr.length, 0);
    assert.equal(echo.exitCode, 0);

    const mixed = await execSync(id, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(Buffer.from(mixed.stdout).toString(), 'out\n');
    assert.equal(Buffer.from(mixed.stderr).toString(), 'err\n');
    assert.equal(mixed.exitCode, 3);

    const env = await execSync(id, ['sh', '-c', 'echo "$GREETING"; pwd; id -u']);
    assert.equal(Buffer.from(env.stdout).toString(), 'hi there\n/tmp\n0\n');

    // A command that exits 255 itself is not mistaken for a runtime failure.
    assert.equal((await execSync(id, ['sh', '-c', 'exit 255'])).exitCode, 255);
    await assert.rejects(execSync(id, ['no-such-binary']), (err: { code: number; details: string }) => {
      assert.equal(err.code, status.UNKNOWN);
      assert.match(err.details, /no-such-binary.*not found/);
      return true;
    });
  });

  it('a timeout kills the command and its children and answers DEADLINE_EXCEEDED', async () => {
    const id = await runningContainer('timeout', ['sleep', '1000']);
    const started = Date.now();
    await assert.rejects(execSync(id, ['sh', '-c', 'sleep 61 & sleep 62'], 1), (err: { code: number; details: string }) => {
      assert.equal(err.code, status.DEADLINE_EXCEEDED);
      assert.match(err.details, /timed out after 1 s/);
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 5000, `returned after ${took} ms`);
    const ps = Buffer.from((await execSync(id, ['ps', '-o', 'args'])).stdout).toString();
    assert.doesNotMatch(ps, /sleep 6[12]/, ps);
    assert.match(ps, /sleep 1000/);
  });

  it('bad requests: INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION', async () => {
    await assert.rejects(execSync('', ['true']), (err: { code: number; details: string }) => err.code === status.INVALID_ARGUMENT && /container_id/.test(err.details));
    await assert.rejects(execSync('abc', []), (err: { code: number; details: string }) => err.code === status.INVALID_ARGUMENT && /cmd/.test(err.details));
    await assert.rejects(execSync('f'.repeat(64), ['true']), { code: status.NOT_FOUND });

    const { containerId: created } = await daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: containerConfig(image, 'created', ['sleep', '1000']), sandboxConfig: pod });
    await assert.rejects(execSync(created, ['true']), { code: status.FAILED_PRECONDITION });
    const quick = await runningContainer('quick', ['true']);
    for (let i = 0; i < 200; i++) {
      if ((await daemon.client.runtime.ContainerStatus!({ containerId: quick })).status.state === 2) break;
      await sleep(25);
    }
    await assert.rejects(execSync(quick, ['true']), (err: { code: number; details: string }) => err.code === status.FAILED_PRECONDITION && /not running/.test(err.details));
  });

  it('2 GiB of output comes back capped while the daemon\'s memory stays bounded', async () => {
    const id = await runningContainer('flood', ['sleep', '1000']);
    const pid = daemon.proc.pid!;
    const before = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    let peakRss = 0;
    const sampler = setInterval(() => {
      readFile(`/proc/${pid}/status`, 'utf8').then((s) => {
        peakRss = Math.max(peakRss, Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024);
      }, () => undefined);
    }, 50);
    const started = Date.now();
    let reply: { stdout: Uint8Array; stderr: Uint8Array; exitCode: number };
    try {
      reply = await bigClient.unary(RuntimeServiceName, 'ExecSync', { containerId: id, cmd: ['sh', '-c', 'head -c 2147483648 /dev/zero; echo done >&2'], timeout: 300 });
    } finally {
      clearInterval(sampler);
    }
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    assert.equal(reply.exitCode, 0);
    assert.equal(reply.stdout.length, execSyncOutputLimit);
    assert.ok(Buffer.from(reply.stdout).every((b) => b === 0));
    // stdout spent the budget before stderr said anything.
    assert.equal(reply.stderr.length, 0);
    const mib = (n: number) => Math.round(n / 1024 / 1024);
    assert.ok(hwm < 200 * 1024 * 1024, `daemon peak RSS ${mib(hwm)} MiB (sampled ${mib(peakRss)} MiB)`);
    console.log(`# 2 GiB through ExecSync in ${Date.now() - started} ms; daemon RSS ${mib(before)} MiB before, VmHWM ${mib(hwm)} MiB after`);
  });
});
