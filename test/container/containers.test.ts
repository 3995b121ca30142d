import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { link, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import type { ImageDaemon } from '../helpers/image_daemon.js';
import { containerConfig, podConfig, runPod, startRuntimeDaemon, State, waitState, type Pod, type RuntimeDaemon } from '../helpers/runtime_daemon.js';

const run = promisify(execFile);

describe('containers on runc under conmon', () => {
  let fx: RuntimeDaemon;
  let daemon: ImageDaemon;
  let image: string;
  let pod: Pod;
  let podId: string;

  before(async () => {
    fx = await startRuntimeDaemon({ suite: 'containers', bridge: `skc${process.pid % 10000}`, subnet: '10.231.9.0/24' });
    ({ daemon, image } = fx);
    pod = await runPod(fx, podConfig(fx, 'ctr-pod'));
    podId = pod.id;
  });
  after(async () => {
    await fx?.cleanup();
  });

  it('runs a container: CRI log lines, exit code, reason and times', async () => {
    const { containerId: id } = await daemon.client.runtime.CreateContainer!({
      podSandboxId: podId,
      config: containerConfig(fx, 'echo', ['sh', '-c', 'echo out; echo err >&2; exit 3']),
      sandboxConfig: pod.config,
    });
    assert.equal((await daemon.client.runtime.ContainerStatus!({ containerId: id })).status.state, State.created);
    await daemon.client.runtime.StartContainer!({ containerId: id });
    const s = await waitState(fx, id, State.exited);
    assert.equal(s.exitCode, 3);
    assert.equal(s.reason, 'Error');
    assert.ok(s.startedAt > 0 && s.finishedAt >= s.startedAt, `started ${s.startedAt} finished ${s.finishedAt}`);
    assert.equal(s.logPath, join(pod.config.logDirectory, 'echo', '0.log'));
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
      config: containerConfig(fx, 'stubborn', ['sh', '-c', "trap '' TERM; while true; do sleep 1; done"]),
      sandboxConfig: pod.config,
    });
    await daemon.client.runtime.StartContainer!({ containerId: id });
    await waitState(fx, id, State.running);
    const started = Date.now();
    await daemon.client.runtime.StopContainer!({ containerId: id, timeout: 1 });
    const s = await waitState(fx, id, State.exited);
    assert.equal(s.exitCode, 137);
    assert.ok(Date.now() - started < 10_000);
    await daemon.client.runtime.StopContainer!({ containerId: id, timeout: 1 });
    await daemon.client.runtime.RemoveContainer!({ containerId: id });
  });

  it('names are reserved until removed; bad requests are INVALID_ARGUMENT or NOT_FOUND', async () => {
    const config = containerConfig(fx, 'reserved', ['sleep', '100']);
    const { containerId: id } = await daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config, sandboxConfig: pod.config });
    await assert.rejects(
      daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: { ...config, command: ['true'] }, sandboxConfig: pod.config }),
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
      daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: { ...containerConfig(fx, 'escape', ['true']), logPath: '../../escape.log' } }),
      /config\.log_path/,
    );
  });

  it('a log file planted as a symlink is refused: nothing outside the log directory is opened or made', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'skiff-log-outside-'));
    try {
      await writeFile(join(outside, 'victim'), 'UNTOUCHED');
      const planted = async (name: string, target: string): Promise<void> => {
        await mkdir(join(pod.config.logDirectory, name), { recursive: true });
        await symlink(target, join(pod.config.logDirectory, name, '0.log'));
      };
      await planted('to-file', join(outside, 'victim'));
      await planted('dangling', join(outside, 'made-through-link'));
      for (const name of ['to-file', 'dangling']) {
        await assert.rejects(
          daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: containerConfig(fx, name, ['true']), sandboxConfig: pod.config }),
          (err: { code: number; details: string }) => err.code === status.INVALID_ARGUMENT && /config\.log_path.*symbolic link/.test(err.details),
        );
      }
      assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'UNTOUCHED');
      assert.deepEqual(await readdir(outside), ['victim']);
      // The links stay (they are not the daemon's); the names are free again.
      assert.ok((await lstat(join(pod.config.logDirectory, 'to-file', '0.log'))).isSymbolicLink());
      await rm(join(pod.config.logDirectory, 'to-file', '0.log'));
      const { containerId } = await daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: containerConfig(fx, 'to-file', ['true']), sandboxConfig: pod.config });
      assert.ok((await lstat(join(pod.config.logDirectory, 'to-file', '0.log'))).isFile());
      await daemon.client.runtime.RemoveContainer!({ containerId });
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('UpdateContainerResources reaches the cgroup; ReopenContainerLog starts a new file', async () => {
    const { containerId: id } = await daemon.client.runtime.CreateContainer!({
      podSandboxId: podId,
      config: containerConfig(fx, 'ticker', ['sh', '-c', 'while true; do echo tick; sleep 0.1; done']),
      sandboxConfig: pod.config,
    });
    await daemon.client.runtime.StartContainer!({ containerId: id });
    await waitState(fx, id, State.running);
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
    // conmon reopens through <log>.tmp: a link left there, symbolic or hard, is not written through.
    const outside = await mkdtemp(join(tmpdir(), 'skiff-log-outside-'));
    try {
      await writeFile(join(outside, 'victim'), 'UNTOUCHED');
      await symlink(join(outside, 'made-through-link'), `${logPath}.tmp`);
      await daemon.client.runtime.ReopenContainerLog!({ containerId: id });
      await sleep(500);
      assert.match(await readFile(logPath, 'utf8'), /stdout F tick/);
      assert.ok((await lstat(logPath)).isFile());
      await run('mv', [logPath, `${logPath}.2`]);
      await link(join(outside, 'victim'), `${logPath}.tmp`);
      await daemon.client.runtime.ReopenContainerLog!({ containerId: id });
      await sleep(500);
      assert.match(await readFile(logPath, 'utf8'), /stdout F tick/);
      assert.deepEqual(await readdir(outside), ['victim']);
      assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'UNTOUCHED');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
    await daemon.client.runtime.RemoveContainer!({ containerId: id });
    await assert.rejects(daemon.client.runtime.ReopenContainerLog!({ containerId: id }), { code: status.NOT_FOUND });
  });

  it('a running container survives a daemon kill -9; an exit while down is recorded', async () => {
    const keep = await daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: containerConfig(fx, 'keeper', ['sleep', '1000']), sandboxConfig: pod.config });
    const quick = await daemon.client.runtime.CreateContainer!({ podSandboxId: podId, config: containerConfig(fx, 'quick', ['sh', '-c', 'sleep 1; exit 7']), sandboxConfig: pod.config });
    await daemon.client.runtime.StartContainer!({ containerId: keep.containerId });
    await daemon.client.runtime.StartContainer!({ containerId: quick.containerId });
    await waitState(fx, keep.containerId, State.running);
    const exited = new Promise((resolve) => daemon.proc.once('exit', resolve));
    daemon.proc.kill('SIGKILL');
    await exited;
    await sleep(1500);
    await fx.restartDaemon();
    daemon = fx.daemon;
    assert.equal((await daemon.client.runtime.ContainerStatus!({ containerId: keep.containerId })).status.state, State.running);
    const q = await waitState(fx, quick.containerId, State.exited);
    assert.equal(q.exitCode, 7);
    await daemon.client.runtime.StopPodSandbox!({ podSandboxId: podId });
    assert.equal((await daemon.client.runtime.ContainerStatus!({ containerId: keep.containerId })).status.state, State.exited);
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: podId });
    assert.deepEqual((await daemon.client.runtime.ListContainers!({ filter: { podSandboxId: podId } })).containers, []);
  });
});
