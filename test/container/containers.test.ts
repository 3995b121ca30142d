import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { pushImage } from '../helpers/image_builder.js';
import { restartImageDaemon, startImageDaemon, type ImageDaemon } from '../helpers/image_daemon.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import type { TarEntry } from '../helpers/tar_writer.js';

const run = promisify(execFile);

/** A busybox image from Debian's busybox-static. */
async function busyboxLayer(): Promise<TarEntry[]> {
  const binary = await readFile('/bin/busybox');
  const applets = ['sh', 'echo', 'sleep', 'cat', 'id', 'true', 'ls'];
  return [
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', data: binary, mode: 0o755 },
    ...applets.map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' },
    { name: 'etc/group', data: 'root:x:0:\nnogroup:x:65534:\n' },
    { name: 'tmp/', type: 'dir', mode: 0o1777 },
  ];
}

describe('containers on runc under conmon', () => {
  let registry: TestRegistry;
  let daemon: ImageDaemon;
  let image: string;
  let podId: string;
  const bridge = `skc${process.pid % 10000}`;
  let logDir: string;

  const podConfig = {
    metadata: { name: 'ctr-pod', namespace: 'test-ns', uid: 'uid-ctr-pod', attempt: 0 },
    hostname: 'ctr-pod',
    logDirectory: '',
    labels: { suite: 'containers' },
  };

  before(async () => {
    registry = await startRegistry();
    await pushImage(registry, 'test/busybox', 'v1', { layers: [await busyboxLayer()], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
    image = `${registry.host}/test/busybox:v1`;
    daemon = await startImageDaemon({ insecure: [registry.host], extraArgs: ['--cni-plugin-dir', '/usr/lib/cni'] });
    await writeFile(
      join(daemon.dir, 'cni', '10-test.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'skiff-ctr-test',
        plugins: [{ type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.231.9.0/24' }]], dataDir: join(daemon.dir, 'ipam') } }],
      }),
    );
    await daemon.client.image.PullImage!({ image: { image } });
    logDir = join(daemon.dir, 'pod-logs');
    podConfig.logDirectory = logDir;
    podId = (await daemon.client.runtime.RunPodSandbox!({ config: podConfig })).podSandboxId;
  });
  after(async () => {
    if (daemon) {
      await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: podId }).catch(() => undefined);
      await daemon.cleanup();
    }
    await registry?.stop();
    await run('ip', ['link', 'del', bridge]).catch(() => undefined);
  });

  const ctrConfig = (name: string, command: string[], extra: Record<string, unknown> = {}) => ({
    metadata: { name, attempt: 0 },
    image: { image },
    command,
    logPath: `${name}/0.log`,
    labels: { ctr: name },
    ...extra,
  });

  async function waitFor(id: string, state: number): Promise<any> {
    for (let i = 0; i < 200; i++) {
      const s = (await daemon.client.runtime.ContainerStatus!({ containerId: id })).status;
      if (s.state === state) return s;
      await sleep(25);
    }
    throw new Error(`container ${id} never reached state ${state}`);
  }

  it('runs a container: CRI log lines, exit code, reason and times', async () => {
    const { containerId: id } = await daemon.client.runtime.CreateContainer!({
      podSandboxId: podId,
      config: ctrConfig('echo', ['sh', '-c', 'echo out; echo err >&2; exit 3']),
      sandboxConfig: podConfig,
    });
    assert.equal((await daemon.client.runtime.ContainerStatus!({ containerId: id })).status.state, 0);
    await daemon.client.runtime.StartContainer!({ containerId: id });
    const s = await waitFor(id, 2);
    assert.equal(s.exitCode, 3);
    assert.equal(s.reason, 'Error');
    assert.ok(s.startedAt > 0 && s.finishedAt >= s.startedAt, `started ${s.startedAt} finished ${s.finishedAt}`);
    assert.equal(s.logPath, join(logDir, 'echo', '0.log'));
    const log = await readFile(s.logPath, 'utf8');
    assert.match(log, /^\S+ stdout F out$/m);
    assert.match(log, /^\S+ stderr F err$/m);
    const listed = await daemon.client.runtime.ListContainers!({ filter: { labelSelector: { ctr: 'echo' } } });
    assert.deepEqual(listed.containers.map((c: { id: string }) => c.id), [id]);
    await daemon.client.runtime.RemoveContainer!({ containerId: id });
    await daemon.client.runtime.RemoveContainer!({ containerId: id });
    await assert.rejects(daemon.client.runtime.ContainerStatus!({ containerId: id }), { code: status.NOT_FOUND });
  });

  it('StopContainer escalates to SIGKILL after the timeout', async () => {
    const { containerId: id } = await daemon.client.runtime.CreateContainer!({
      podSandboxId: podId,
      config: ctrConfig('stubborn', ['sh', '-c', "trap '' TERM; while true; do sleep 1; done"]),
      sandboxConfig: podConfig,
    });
    await daemon.client.runtime.StartContainer!({ containerId: id });
    await waitFor(id, 1);
    const started = Date.now();
    await daemon.client.runtime.StopContainer!({ containerId: id, timeout: 1 });
    const s = await waitFor(id, 2);
    assert.equal(s.exitCode, 137);
    assert.ok(Date.now() - started < 10_000);
    await daemon.client.runtime.StopContainer!({ containerId: id, timeout: 1 });
    await daemon.client.runtime.RemoveContainer!({ containerId: id });
  });

  it('names are reserved until removed; bad requests are INVALID_ARGUMENT or NOT_FOUND', async () => {
    const config = ctrConfig('reserved', ['sleep', '100']);
    const { containerId: id } = await daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config, sandboxConfig: podConfig });
    await assert.rejects(
      daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: { ...config, command: ['true'] }, sandboxConfig: podConfig }),
      (err: { code: number; details: string }) => err.code === status.ALREADY_EXISTS && err.details.includes(id),
    );
    await daemon.client.runtime.RemoveContainer!({ containerId: id });
    await assert.rejects(daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: { image: { image } } }), /config\.metadata\.name: required/);
    await assert.rejects(daemon.client.runtime.CreateContainer!({ podSandboxId: 'f'.repeat(64), config }), { code: status.NOT_FOUND });
    await assert.rejects(
      daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: { ...config, image: { image: 'nosuch/image:1' } } }),
      { code: status.NOT_FOUND },
    );
    await assert.rejects(
      daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: { ...ctrConfig('escape', ['true']), logPath: '../../escape.log' } }),
      /config\.log_path/,
    );
  });

  it('UpdateContainerResources reaches the cgroup; ReopenContainerLog starts a new file', async () => {
    const { containerId: id } = await daemon.client.runtime.CreateContainer!({
      podSandboxId: podId,
      config: ctrConfig('ticker', ['sh', '-c', 'while true; do echo tick; sleep 0.1; done']),
      sandboxConfig: podConfig,
    });
    await daemon.client.runtime.StartContainer!({ containerId: id });
    await waitFor(id, 1);
    await daemon.client.runtime.UpdateContainerResources!({ containerId: id, linux: { memoryLimitInBytes: 96 * 1024 * 1024, cpuShares: 256 } });
    const { stdout } = await run('find', ['/sys/fs/cgroup/memory', '-maxdepth', '4', '-type', 'd', '-name', `*${id}*`]);
    const cgroup = stdout.trim().split('\n')[0]!;
    assert.ok(cgroup, 'container memory cgroup found');
    assert.equal((await readFile(join(cgroup, 'memory.limit_in_bytes'), 'utf8')).trim(), String(96 * 1024 * 1024));
    await assert.rejects(
      daemon.client.runtime.UpdateContainerResources!({ containerId: id, linux: { cpuShares: -5 } }),
      (err: { code: number; details: string }) => err.code === status.INVALID_ARGUMENT && /cpu_shares/.test(err.details),
    );

    const logPath = (await daemon.client.runtime.ContainerStatus!({ containerId: id })).status.logPath;
    await run('mv', [logPath, `${logPath}.1`]);
    await daemon.client.runtime.ReopenContainerLog!({ containerId: id });
    await sleep(500);
    assert.match(await readFile(logPath, 'utf8'), /stdout F tick/);
    await daemon.client.runtime.RemoveContainer!({ containerId: id });
    await assert.rejects(daemon.client.runtime.ReopenContainerLog!({ containerId: id }), { code: status.NOT_FOUND });
  });

  it('a running container survives a daemon kill -9; an exit while down is recorded', async () => {
    const keep = await daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: ctrConfig('keeper', ['sleep', '1000']), sandboxConfig: podConfig });
    const quick = await daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: ctrConfig('quick', ['sh', '-c', 'sleep 1; exit 7']), sandboxConfig: podConfig });
    await daemon.client.runtime.StartContainer!({ containerId: keep.containerId });
    await daemon.client.runtime.StartContainer!({ containerId: quick.containerId });
    await waitFor(keep.containerId, 1);
    const exited = new Promise((resolve) => daemon.proc.once('exit', resolve));
    daemon.proc.kill('SIGKILL');
    await exited;
    await sleep(1500);
    daemon = await restartImageDaemon(daemon, ['--cni-plugin-dir', '/usr/lib/cni']);
    assert.equal((await daemon.client.runtime.ContainerStatus!({ containerId: keep.containerId })).status.state, 1);
    const q = await waitFor(quick.containerId, 2);
    assert.equal(q.exitCode, 7);
    await daemon.client.runtime.StopPodSandbox!({ podSandboxId: podId });
    assert.equal((await daemon.client.runtime.ContainerStatus!({ containerId: keep.containerId })).status.state, 2);
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: podId });
    assert.deepEqual((await daemon.client.runtime.ListContainers!({ filter: { podSandboxId: podId } })).containers, []);
  });
});
