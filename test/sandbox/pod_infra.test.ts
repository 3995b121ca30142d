// Pod cgroups and the infra (pause) process of PID-sharing pods, end to end:
// real runc under conmon, a CNI bridge, an image from a real registry.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, readlink, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ImageDaemon } from '../helpers/image_daemon.js';
import * as runtime from '../helpers/runtime_daemon.js';

const run = promisify(execFile);
const exists = (p: string) => stat(p).then(() => true, () => false);
const POD = 0;
const CONTAINER = 1;

/** The v1 hierarchies (and the hybrid unified tree) mounted on this host. */
async function hierarchies(): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .filter((l) => / - cgroup2? /.test(l) && l.split(' ')[3] === '/')
    .map((l) => l.split(' ')[4]!);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('pod cgroups and the infra process', () => {
  let fx: runtime.RuntimeDaemon;
  let daemon: ImageDaemon;
  let mounts: string[];
  const testParent = `/skiff-itest-${process.pid}`;

  const runtimeRoot = () => join(daemon.dir, 'run', 'runtimes', 'runc');
  const runcState = async (id: string): Promise<{ status: string; pid: number } | undefined> =>
    run('runc', ['--root', runtimeRoot(), 'state', id]).then(
      ({ stdout }) => JSON.parse(stdout) as { status: string; pid: number },
      () => undefined,
    );
  const info = async (id: string) => JSON.parse((await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id, verbose: true })).info.info);
  const podState = async (id: string): Promise<number> => (await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id })).status.state;

  const podConfig = (name: string, linux: Record<string, unknown> = {}) => runtime.podConfig(fx, name, {}, linux);
  const sharedPid = (extra: Record<string, unknown> = {}) => ({ securityContext: { namespaceOptions: { network: POD, ipc: POD, pid: POD } }, ...extra });
  const ctrConfig = (name: string, command: string[], pid: number) =>
    runtime.containerConfig(fx, name, command, { logPath: `${name}.log`, linux: { securityContext: { namespaceOptions: { network: POD, ipc: POD, pid } } } });

  const startContainer = (podId: string, sandboxConfig: Record<string, any>, config: Record<string, any>): Promise<string> =>
    runtime.startContainer(fx, { id: podId, config: sandboxConfig }, config);
  const runPod = async (config: Record<string, any>): Promise<string> => (await runtime.runPod(fx, config)).id;

  async function waitForLog(path: string, pattern: RegExp): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const text = await readFile(path, 'utf8').catch(() => '');
      if (pattern.test(text)) return text;
      await sleep(50);
    }
    throw new Error(`${path} never matched ${pattern}: ${await readFile(path, 'utf8').catch(() => '(absent)')}`);
  }

  before(async () => {
    mounts = await hierarchies();
    // Its own subnet: exec_sync's 10.231.23.0/24 may be up at the same time on a shared host.
    fx = await runtime.startRuntimeDaemon({ suite: 'pod-infra', bridge: `skf${process.pid % 10000}`, subnet: '10.231.27.0/24' });
    daemon = fx.daemon;
  });

  after(async () => {
    await fx?.cleanup();
    // The test's own parents, deepest first, in every hierarchy.
    for (const m of mounts ?? []) {
      for (const dir of [`${testParent}/fail`, `${testParent}/resize/podK`, `${testParent}/resize`, `${testParent}/made/burstable`, `${testParent}/made`, `${testParent}/kubelet/podK`, `${testParent}/kubelet`, testParent]) {
        await rmdir(join(m, dir)).catch(() => undefined);
      }
    }
  });

  it('pid POD: the containers and the pause process share one PID namespace; stop and remove clean up', async () => {
    const config = podConfig('shared', sharedPid());
    const id = await runPod(config);
    const pod = await info(id);
    const infra = await runcState(id);
    assert.equal(infra?.status, 'running');
    const infraPid = infra!.pid;
    assert.equal((await readFile(`/proc/${infraPid}/cmdline`, 'utf8')).split('\0')[0], '/pause');
    // The infra sits in the pod's pinned namespaces and its cgroup.
    assert.equal(await readlink(`/proc/${infraPid}/ns/net`), `net:[${(await stat(pod.namespaces.net)).ino}]`);
    assert.equal(await readlink(`/proc/${infraPid}/ns/ipc`), `ipc:[${(await stat(pod.namespaces.ipc)).ino}]`);
    assert.match(await readFile(`/proc/${infraPid}/cgroup`, 'utf8'), new RegExp(`:memory:/skiff/pod${id}/skiff-${id}$`, 'm'));
    assert.match(await readFile(`/proc/${infraPid}/status`, 'utf8'), /^CapEff:\s+0{16}$/m);

    const a = await startContainer(id, config, ctrConfig('sleeper', ['sleep', '1000'], POD));
    const b = await startContainer(id, config, ctrConfig('looker', ['sh', '-c', 'while ! ps -o pid,args | grep -q "[s]leep 1000"; do sleep 0.1; done; ps -o pid,args; sleep 1000'], POD));
    const log = await waitForLog(join(config.logDirectory, 'looker.log'), /sleep 1000/);
    assert.match(log, /stdout F\s+1 \/pause$/m, 'pause is PID 1 of the pod');
    assert.match(log, /stdout F\s+\d+ sleep 1000$/m, 'container A\'s process is visible from container B');
    const aPid = (await runcState(a))!.pid;
    assert.equal(await readlink(`/proc/${aPid}/ns/pid`), await readlink(`/proc/${infraPid}/ns/pid`));

    await daemon.client.runtime.StopPodSandbox!({ podSandboxId: id });
    assert.equal(await podState(id), 1);
    assert.equal(alive(infraPid), false, 'infra stopped');
    assert.equal((await runcState(id))?.status, 'stopped');
    for (const c of [a, b]) assert.equal((await daemon.client.runtime.ContainerStatus!({ containerId: c })).status.state, 2);

    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });
    assert.equal(await runcState(id), undefined, 'infra deleted from the runtime');
    assert.equal(await exists(join(daemon.dir, 'run', 'sandboxes', id)), false, 'infra bundle gone');
    for (const m of mounts) assert.equal(await exists(join(m, `/skiff/pod${id}`)), false, `pod cgroup gone from ${m}`);
  });

  it('a pod without a shared PID namespace runs no infra process', async () => {
    const config = podConfig('own-pid', { securityContext: { namespaceOptions: { network: POD, ipc: POD, pid: CONTAINER } } });
    const id = await runPod(config);
    assert.equal(await runcState(id), undefined);
    const c = await startContainer(id, config, ctrConfig('alone', ['sh', '-c', 'cat /proc/1/cmdline; echo; sleep 1000'], CONTAINER));
    await waitForLog(join(config.logDirectory, 'alone.log'), /stdout [PF] sh\0-c\0/);
    await daemon.client.runtime.RemoveContainer!({ containerId: c });
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });
  });

  it('the pod cgroup: made under cgroup_parent and sized when missing, left alone when the kubelet made it', async () => {
    const made = `${testParent}/made/burstable/pod-m`;
    const config = podConfig('cg-made', {
      cgroupParent: made,
      resources: { cpuShares: 512, memoryLimitInBytes: 64 << 20, cpuPeriod: 100000, cpuQuota: 50000 },
      overhead: { memoryLimitInBytes: 16 << 20, cpuShares: 0 },
    });
    const id = await runPod(config);
    for (const m of mounts) assert.ok(await exists(join(m, made)), `pod cgroup in ${m}`);
    assert.equal((await readFile(join('/sys/fs/cgroup/memory', made, 'memory.limit_in_bytes'), 'utf8')).trim(), String(80 << 20));
    assert.equal((await readFile(join('/sys/fs/cgroup/cpu', made, 'cpu.shares'), 'utf8')).trim(), '512');
    assert.equal((await readFile(join('/sys/fs/cgroup/cpu', made, 'cpu.cfs_quota_us'), 'utf8')).trim(), '50000');
    assert.notEqual((await readFile(join('/sys/fs/cgroup/cpuset', made, 'cpuset.cpus'), 'utf8')).trim(), '', 'cpuset inherited');
    const pod = await info(id);
    assert.equal(pod.cgroupParent, made);

    const c = await startContainer(id, config, ctrConfig('nested', ['sleep', '1000'], CONTAINER));
    const pid = (await runcState(c))!.pid;
    const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8');
    for (const controller of ['memory', 'cpu,cpuacct|cpu', 'pids']) {
      assert.match(cgroups, new RegExp(`^\\d+:(${controller}):${made}/skiff-${c}$`, 'm'), `${controller} cgroup nested in the pod's`);
    }
    await daemon.client.runtime.StopPodSandbox!({ podSandboxId: id });
    assert.ok(await exists(join('/sys/fs/cgroup/memory', made)), 'stop keeps the pod cgroup');
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });
    for (const m of mounts) assert.equal(await exists(join(m, made)), false, `made cgroup removed from ${m}`);
    for (const m of mounts) assert.ok(await exists(join(m, `${testParent}/made/burstable`)), 'parents skiff did not make for this pod stay');

    // One the kubelet made is used, not sized, and not removed.
    const kubelet = `${testParent}/kubelet/podK`;
    for (const m of mounts) await mkdir(join(m, kubelet), { recursive: true });
    await writeFile(join('/sys/fs/cgroup/cpuset', testParent, 'cpuset.cpus'), (await readFile('/sys/fs/cgroup/cpuset/cpuset.cpus', 'utf8')).trim());
    const limitBefore = (await readFile(join('/sys/fs/cgroup/memory', kubelet, 'memory.limit_in_bytes'), 'utf8')).trim();
    const kid = await runPod(podConfig('cg-kubelet', { cgroupParent: kubelet, resources: { memoryLimitInBytes: 64 << 20 } }));
    assert.equal((await readFile(join('/sys/fs/cgroup/memory', kubelet, 'memory.limit_in_bytes'), 'utf8')).trim(), limitBefore);
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: kid });
    for (const m of mounts) assert.ok(await exists(join(m, kubelet)), `the kubelet's cgroup stays in ${m}`);

    // A bad parent is INVALID_ARGUMENT and leaves nothing.
    await assert.rejects(daemon.client.runtime.RunPodSandbox!({ config: podConfig('cg-bad', { cgroupParent: '/kubepods/../../etc' }) }), (err: { code: number; details: string }) => {
      assert.equal(err.code, 3);
      assert.match(err.details, /^config\.linux\.cgroup_parent: /);
      return true;
    });
  });

  it('UpdatePodSandboxResources resizes the pod cgroup skiff made, leaves the kubelet\'s alone, and records the figures', async () => {
    const made = `${testParent}/resize/pod-r`;
    const id = await runPod(podConfig('cg-resize', { cgroupParent: made, resources: { memoryLimitInBytes: 64 << 20, cpuShares: 256, cpuPeriod: 100000, cpuQuota: 20000 } }));
    const read = async (controller: string, dir: string, file: string) => (await readFile(join('/sys/fs/cgroup', controller, dir, file), 'utf8')).trim();
    const memsw = await exists(join('/sys/fs/cgroup/memory', made, 'memory.memsw.limit_in_bytes'));
    const update = (podSandboxId: string, resources: Record<string, unknown> | null, overhead: Record<string, unknown> | null = null) =>
      daemon.client.runtime.UpdatePodSandboxResources!({ podSandboxId, resources, overhead });

    // Growing past memory+swap: that limit must move first, or the kernel refuses.
    await update(id, { memoryLimitInBytes: 256 << 20, cpuShares: 1024, cpuPeriod: 100000, cpuQuota: 50000 }, { memoryLimitInBytes: 16 << 20 });
    assert.equal(await read('memory', made, 'memory.limit_in_bytes'), String(272 << 20));
    if (memsw) assert.equal(await read('memory', made, 'memory.memsw.limit_in_bytes'), String(272 << 20));
    assert.equal(await read('cpu', made, 'cpu.shares'), '1024');
    assert.equal(await read('cpu', made, 'cpu.cfs_quota_us'), '50000');
    // And shrinking, the other way round.
    await update(id, { memoryLimitInBytes: 32 << 20 });
    assert.equal(await read('memory', made, 'memory.limit_in_bytes'), String(32 << 20));
    const recorded = await info(id);
    assert.equal(recorded.resources.memoryLimitInBytes, 32 << 20);
    assert.equal(recorded.overhead, null);

    // Bad input names the field and changes nothing.
    await assert.rejects(update(id, { cpuShares: -5 }), (err: { code: number; details: string }) => {
      assert.equal(err.code, 3);
      assert.match(err.details, /^resources\.cpu_shares: /);
      return true;
    });
    await assert.rejects(update(id, null, { cpusetCpus: 'all of them' }), (err: { code: number; details: string }) => err.code === 3 && /^overhead\.cpuset_cpus: /.test(err.details));
    assert.equal(await read('memory', made, 'memory.limit_in_bytes'), String(32 << 20));
    assert.equal((await info(id)).resources.memoryLimitInBytes, 32 << 20);
    await assert.rejects(update('', null), (err: { code: number }) => err.code === 3);
    await assert.rejects(update('f'.repeat(64), { memoryLimitInBytes: 1 << 30 }), (err: { code: number }) => err.code === 5);
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });

    // The kubelet resizes the cgroups it made before it tells the runtime: skiff only records.
    const kubelet = `${testParent}/resize/podK`;
    for (const m of mounts) await mkdir(join(m, kubelet), { recursive: true });
    await writeFile(join('/sys/fs/cgroup/cpuset', testParent, 'cpuset.cpus'), (await readFile('/sys/fs/cgroup/cpuset/cpuset.cpus', 'utf8')).trim()).catch(() => undefined);
    await writeFile(join('/sys/fs/cgroup/cpuset', `${testParent}/resize`, 'cpuset.cpus'), (await readFile('/sys/fs/cgroup/cpuset/cpuset.cpus', 'utf8')).trim()).catch(() => undefined);
    const kid = await runPod(podConfig('cg-resize-k', { cgroupParent: kubelet }));
    const before = await read('memory', kubelet, 'memory.limit_in_bytes');
    await update(kid, { memoryLimitInBytes: 48 << 20 });
    assert.equal(await read('memory', kubelet, 'memory.limit_in_bytes'), before);
    assert.equal((await info(kid)).resources.memoryLimitInBytes, 48 << 20);
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: kid });
  });

  it('infra failure undoes RunPodSandbox', async () => {
    // A pod-level seccomp profile file that does not exist makes the infra spec fail after the network is up.
    const failParent = `${testParent}/fail/podF`;
    const config = podConfig('infra-fail', {
      cgroupParent: failParent,
      securityContext: { namespaceOptions: { pid: POD }, seccomp: { profileType: 2, localhostRef: join(daemon.dir, 'no-such-profile.json') } },
    });
    const runDirs = () => readdir(join(daemon.dir, 'run', 'sandboxes')).catch(() => [] as string[]);
    // Only this daemon's mounts: other tests may mount and unmount meanwhile.
    const ownMounts = async () => (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(daemon.dir)).length;
    const [dirsBefore, mountsBefore] = [await runDirs(), await ownMounts()];
    await assert.rejects(daemon.client.runtime.RunPodSandbox!({ config }), /seccomp|no-such-profile/);
    const listed = (await daemon.client.runtime.ListPodSandbox!({})).items as { metadata: { name: string } }[];
    assert.deepEqual(listed.filter((p) => p.metadata.name === 'infra-fail'), []);
    assert.deepEqual(await runDirs(), dirsBefore, 'no run directory left');
    for (const m of mounts) assert.equal(await exists(join(m, failParent)), false, `no pod cgroup left in ${m}`);
    assert.equal(await ownMounts(), mountsBefore, 'no pin or shm left mounted');
  });

  it('restart: a running infra is adopted; one killed while the daemon was down makes the pod NOTREADY', async () => {
    const keepConfig = podConfig('survivor', sharedPid());
    const lostConfig = podConfig('lost', sharedPid());
    const keep = await runPod(keepConfig);
    const lost = await runPod(lostConfig);
    const keepPid = (await runcState(keep))!.pid;
    const lostPid = (await runcState(lost))!.pid;
    const exited = new Promise((resolve) => daemon.proc.once('exit', resolve));
    daemon.proc.kill('SIGKILL');
    await exited;
    process.kill(lostPid, 'SIGKILL');
    await sleep(1000);
    await fx.restartDaemon();
    daemon = fx.daemon;
    assert.equal(await podState(keep), 0, 'pod with a live infra is ready');
    assert.equal(await podState(lost), 1, 'pod whose infra died is not ready');
    assert.equal(alive(keepPid), true);

    // The adopted infra still serves: a new container joins its PID namespace.
    const c = await startContainer(keep, keepConfig, ctrConfig('late', ['sh', '-c', 'cat /proc/1/cmdline; echo; sleep 1000'], POD));
    await waitForLog(join(keepConfig.logDirectory, 'late.log'), /stdout [PF] \/pause\0/);
    await assert.rejects(daemon.client.runtime.CreateContainer!({ podSandboxId: lost, config: ctrConfig('nope', ['true'], POD), sandboxConfig: lostConfig }), { code: 9 });

    // An infra killed while the daemon runs is noticed too.
    process.kill(keepPid, 'SIGKILL');
    for (let i = 0; i < 100 && (await podState(keep)) === 0; i++) await sleep(50);
    assert.equal(await podState(keep), 1, 'infra exit seen by the running daemon');
    for (let i = 0; i < 100 && (await daemon.client.runtime.ContainerStatus!({ containerId: c })).status.state !== 2; i++) await sleep(50);
    assert.equal((await daemon.client.runtime.ContainerStatus!({ containerId: c })).status.state, 2, 'the PID namespace died with its init');

    for (const id of [keep, lost]) {
      await daemon.client.runtime.StopPodSandbox!({ podSandboxId: id });
      await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });
      assert.equal(await runcState(id), undefined);
    }
  });
});
