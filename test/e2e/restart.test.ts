// A daemon killed with SIGKILL while five pods run, one of whose containers
// exits while no daemon is there to see it. The new daemon must report all
// of it truthfully, leave the running containers alone (same processes,
// still logging), and then stop and remove everything without leftovers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { runcPath } from '../oci_runtime/fixtures.js';
import { containerConfig, containerStatus, e2eProblem, iptablesRulesMentioning, podConfig, readOutput, run, runPod, runtimePid, startContainer, startE2e, State, waitState, type E2e } from './fixtures.js';

const skip = await e2eProblem();
const podCount = 5;

/** A process's start time in clock ticks since boot: a pid reused by another process differs here. */
async function startTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

describe('e2e: restart with running pods', { skip, timeout: 150_000 }, () => {
  let e2e: E2e;
  let signalDir: string;

  before(async () => {
    e2e = await startE2e({ slot: 3 });
    signalDir = await mkdtemp(join(tmpdir(), 'skiff-e2e-signal-'));
  });
  after(async () => {
    // A test that failed between the kill and the restart leaves containers that only a daemon can remove.
    if (e2e && (e2e.daemon.proc.exitCode !== null || e2e.daemon.proc.signalCode !== null)) await e2e.restartDaemon().catch(() => undefined);
    await e2e?.cleanup();
    if (signalDir) await rm(signalDir, { recursive: true, force: true });
  });

  it('kill -9 with 5 running pods and an exit while down: the new daemon reports all of it, touches nothing, and cleans up', async () => {
    const runtimeRoot = join(e2e.daemon.dir, 'run', 'runtimes', 'runc');
    const ticker = ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done'];
    const pods = await Promise.all(Array.from({ length: podCount }, (_, i) => runPod(e2e, podConfig(e2e, `survivor-${i}`))));
    const running = await Promise.all(pods.map((pod) => startContainer(e2e, pod, containerConfig(e2e, 'ticker', ticker))));
    // Exits with 7 once the test says so through a host directory: that is, while the daemon is down.
    const quitter = await startContainer(
      e2e,
      pods[0]!,
      containerConfig(e2e, 'quitter', ['sh', '-c', 'echo waiting; while [ ! -e /signal/go ]; do sleep 0.05; done; echo leaving; exit 7'], {
        mounts: [{ containerPath: '/signal', hostPath: signalDir, readonly: true }],
      }),
    );
    await Promise.all([...running, quitter].map((id) => waitState(e2e, id, State.running)));
    const before = await Promise.all(
      running.map(async (id) => {
        const pid = await runtimePid(e2e, id);
        return { id, pid, start: await startTime(pid), logPath: (await containerStatus(e2e, id)).logPath as string };
      }),
    );
    const quitterPid = await runtimePid(e2e, quitter);
    const podIps = await Promise.all(pods.map(async (p) => (await e2e.daemon.client.runtime.PodSandboxStatus!({ podSandboxId: p.id })).status.network.ip as string));

    const killed = new Promise((resolve) => e2e.daemon.proc.once('exit', resolve));
    e2e.daemon.client.close();
    e2e.daemon.proc.kill('SIGKILL');
    await killed;
    const signalledAt = Date.now() * 1e6;
    await writeFile(join(signalDir, 'go'), '');
    for (let i = 0; (await startTime(quitterPid)) !== undefined; i++) {
      assert.ok(i < 200, 'the quitter exits while the daemon is down');
      await sleep(50);
    }
    const restartedAt = Date.now() * 1e6;
    await e2e.restartDaemon();
    const cri = e2e.daemon.client.runtime;

    const listed = (await cri.ListPodSandbox!({ filter: { labelSelector: { suite: 'e2e' } } })).items as { id: string; state: number }[];
    assert.deepEqual(listed.map((p) => p.id).sort(), pods.map((p) => p.id).sort());
    assert.ok(listed.every((p) => p.state === 0), 'every pod READY');
    const containers = (await cri.ListContainers!({})).containers as { id: string; state: number }[];
    assert.deepEqual(containers.map((c) => c.id).sort(), [...running, quitter].sort());
    for (const c of containers) assert.equal(c.state, c.id === quitter ? State.exited : State.running, `state of ${c.id}`);

    const q = await containerStatus(e2e, quitter);
    assert.equal(q.state, State.exited);
    assert.equal(q.exitCode, 7);
    assert.equal(q.reason, 'Error');
    assert.ok(q.finishedAt >= signalledAt - 20e6 && q.finishedAt <= restartedAt + 20e6, `finished at ${q.finishedAt}, between ${signalledAt} and ${restartedAt}`);
    assert.deepEqual((await readOutput(q.logPath)).stdout, ['waiting', 'leaving']);

    for (const b of before) {
      const s = await containerStatus(e2e, b.id);
      assert.equal(s.state, State.running);
      assert.equal(await runtimePid(e2e, b.id), b.pid, 'same process');
      assert.equal(await startTime(b.pid), b.start, 'not restarted');
      // Still ticking into the same log: conmon kept its pipes through the restart.
      const ticks = (await readOutput(b.logPath)).stdout.length;
      await sleep(300);
      assert.ok((await readOutput(b.logPath)).stdout.length > ticks, 'the log keeps growing');
    }

    // Twice each: the kubelet retries, and a second stop or remove is a no-op that succeeds.
    await Promise.all(pods.map((p) => cri.StopPodSandbox!({ podSandboxId: p.id })));
    await Promise.all(pods.map((p) => cri.StopPodSandbox!({ podSandboxId: p.id })));
    for (const id of running) {
      const s = await containerStatus(e2e, id);
      assert.equal(s.state, State.exited);
      // StopPodSandbox stops its containers with no grace period.
      assert.equal(s.exitCode, 137);
    }
    await Promise.all(pods.map((p) => cri.RemovePodSandbox!({ podSandboxId: p.id })));
    await Promise.all(pods.map((p) => cri.RemovePodSandbox!({ podSandboxId: p.id })));
    assert.deepEqual((await cri.ListPodSandbox!({})).items, []);
    assert.deepEqual((await cri.ListContainers!({})).containers, []);
    for (const b of before) assert.equal(await startTime(b.pid), undefined, `process ${b.pid} gone`);
    assert.deepEqual(JSON.parse((await run(runcPath, ['--root', runtimeRoot, 'list', '--format', 'json'])).stdout) ?? [], [], 'runc knows no container');
    const { stdout: conmons } = await run('pgrep', ['-f', `conmon .*${e2e.daemon.dir}`]).catch(() => ({ stdout: '' }));
    assert.equal(conmons.trim(), '', 'no conmon left');
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(e2e.daemon.dir));
    assert.deepEqual(mounts, [], 'no rootfs, shm or namespace mount left');
    assert.deepEqual(await iptablesRulesMentioning(...podIps.map((ip) => `${ip}/32`), ...pods.map((p) => p.id)), []);
    const ipamDir = join(e2e.daemon.dir, 'ipam');
    for (const net of await readdir(ipamDir).catch(() => [] as string[])) {
      assert.deepEqual((await readdir(join(ipamDir, net))).filter((f) => /^\d+\./.test(f)), [], `no IP left allocated in ${net}`);
    }
  });
  it('a record written while the runtime created or started, then a kill -9: the runtime decides what it was', async () => {
    const runtimeRoot = join(e2e.daemon.dir, 'run', 'runtimes', 'runc');
    const pod = await runPod(e2e, podConfig(e2e, 'unconfirmed'));
    const create = async (name: string): Promise<string> =>
      (await e2e.daemon.client.runtime.CreateContainer!({ podSandboxId: pod.id, config: containerConfig(e2e, name, ['sleep', '1000']), sandboxConfig: pod.config })).containerId;
    const [notStarted, neverCreated, created, lost] = [await create('not-started'), await create('never-created'), await create('created'), await create('lost')];

    const killed = new Promise((resolve) => e2e.daemon.proc.once('exit', resolve));
    e2e.daemon.client.close();
    e2e.daemon.proc.kill('SIGKILL');
    await killed;
    const recordFile = (id: string): string => join(e2e.daemon.dir, 'root', 'containers', id, 'container.json');
    const edit = async (id: string, change: Record<string, unknown>): Promise<void> => {
      const record = JSON.parse(await readFile(recordFile(id), 'utf8')) as Record<string, unknown>;
      await writeFile(recordFile(id), JSON.stringify({ ...record, ...change }));
    };
    // Killed while StartContainer's write was done but the runtime's start had not happened.
    await edit(notStarted, { phase: 'running', startedAt: Date.now() * 1e6, unconfirmed: 'start' });
    // Killed while CreateContainer's write was done but the runtime's create had not happened.
    await edit(neverCreated, { unconfirmed: 'create' });
    await run(runcPath, ['--root', runtimeRoot, 'delete', '--force', neverCreated]);
    // Killed after both the write and the runtime's create, before the mark was cleared.
    await edit(created, { unconfirmed: 'create' });
    // Marked as starting, but the runtime no longer has it at all.
    await edit(lost, { phase: 'running', startedAt: Date.now() * 1e6, unconfirmed: 'start' });
    await run(runcPath, ['--root', runtimeRoot, 'delete', '--force', lost]);
    await e2e.restartDaemon();
    const cri = e2e.daemon.client.runtime;

    const s = await containerStatus(e2e, notStarted);
    assert.equal(s.state, State.created);
    assert.equal(s.startedAt, 0);
    const listed = ((await cri.ListContainers!({ filter: { podSandboxId: pod.id } })).containers as { id: string }[]).map((c) => c.id).sort();
    assert.deepEqual(listed, [notStarted, created].sort(), 'the containers the runtime does not know are gone');
    assert.equal((await containerStatus(e2e, created)).state, State.created);
    for (const id of [notStarted, created]) assert.equal((JSON.parse(await readFile(recordFile(id), 'utf8')) as { unconfirmed?: string }).unconfirmed, undefined);

    await cri.StartContainer!({ containerId: notStarted });
    await waitState(e2e, notStarted, State.running);
    // The name of the removed container is free again.
    const again = await create('never-created');
    assert.notEqual(again, neverCreated);
    await cri.StopPodSandbox!({ podSandboxId: pod.id });
    await cri.RemovePodSandbox!({ podSandboxId: pod.id });
  });

  it('run directories a kill -9 left without a record are removed at start; a conmon named in one is killed', async () => {
    const runDirs = join(e2e.daemon.dir, 'run', 'containers');
    const killed = new Promise((resolve) => e2e.daemon.proc.once('exit', resolve));
    e2e.daemon.client.close();
    e2e.daemon.proc.kill('SIGKILL');
    await killed;
    // CreateContainer makes the run directory and starts conmon while the record is written.
    // A process named conmon stands in for one that outlived its daemon.
    const conmonCopy = join(signalDir, 'conmon');
    await copyFile('/bin/sleep', conmonCopy);
    const monitor = spawn(conmonCopy, ['1000'], { stdio: 'ignore' });
    const other = spawn('/bin/sleep', ['1000'], { stdio: 'ignore' });
    const monitorGone = new Promise((resolve) => monitor.once('exit', resolve));
    try {
      const strays = { withConmon: 'a'.repeat(64), pidReused: 'b'.repeat(64) };
      for (const [id, pid] of [[strays.withConmon, monitor.pid], [strays.pidReused, other.pid]] as const) {
        await mkdir(join(runDirs, id), { recursive: true });
        await writeFile(join(runDirs, id, 'conmon-pidfile'), String(pid));
        await run('mkfifo', [join(runDirs, id, 'ctl')]);
      }
      // Not a container's name: not the daemon's to remove.
      await mkdir(join(runDirs, 'not-a-container'), { recursive: true });
      await e2e.restartDaemon();

      // The sweep runs before the daemon serves: the kill was sent by now.
      await Promise.race([monitorGone, sleep(5000)]);
      assert.equal(monitor.signalCode, 'SIGKILL', 'the stray conmon is killed');
      assert.equal(other.exitCode, null, 'a process that is not conmon is left alone');
      assert.deepEqual((await readdir(runDirs)).sort(), ['not-a-container']);
    } finally {
      monitor.kill('SIGKILL');
      other.kill('SIGKILL');
      await rm(join(runDirs, 'not-a-container'), { recursive: true, force: true });
    }
  });
});
