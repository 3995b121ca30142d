import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { cniPluginDir, removeBridge, writeBridgeNetwork } from '../helpers/cni_bridge.js';
import { scratchDir, startDaemon, type RunningDaemon } from '../helpers/daemon.js';

const run = promisify(execFile);
const exists = (p: string) => stat(p).then(() => true, () => false);

const podConfig = (name: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: 'test-ns', uid: `uid-${name}`, attempt: 0 },
  hostname: name,
  logDirectory: '',
  labels: { app: name, suite: 'pods' },
  ...extra,
});

describe('pod sandboxes with real CNI, pinned namespaces and pod files', () => {
  let daemon: RunningDaemon;
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  const bridge = `skp${process.pid % 10000}`;
  const ipamDir = () => join(scratch.dir, 'ipam');
  /** The network's name, which names its IPAM store. */
  const network = `skiff-${bridge}`;

  before(async () => {
    scratch = await scratchDir('skiff-pods-');
    daemon = await startDaemon(scratch.dir, ['--cni-plugin-dir', cniPluginDir]);
    await writeBridgeNetwork(join(scratch.dir, 'cni'), ipamDir(), bridge, '10.231.7.0/24', { portmap: true });
  });
  after(async () => {
    await daemon?.stop();
    await removeBridge(bridge);
    await scratch?.cleanup();
  });

  const verboseInfo = async (id: string) => JSON.parse((await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id, verbose: true })).info.info);

  it('two pods get distinct IPs and reach each other; hostname, hosts and DNS are the pod\'s', async () => {
    const [a, b] = await Promise.all([
      daemon.client.runtime.RunPodSandbox!({ config: podConfig('alpha', { dnsConfig: { servers: ['10.96.0.10'], searches: ['test-ns.svc.cluster.local'], options: ['ndots:5'] } }) }),
      daemon.client.runtime.RunPodSandbox!({ config: podConfig('beta') }),
    ]);
    const statusA = (await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: a.podSandboxId })).status;
    const statusB = (await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: b.podSandboxId })).status;
    assert.equal(statusA.state, 0);
    assert.match(statusA.network.ip, /^10\.231\.7\.\d+$/);
    assert.match(statusB.network.ip, /^10\.231\.7\.\d+$/);
    assert.notEqual(statusA.network.ip, statusB.network.ip);

    const infoA = await verboseInfo(a.podSandboxId);
    const infoB = await verboseInfo(b.podSandboxId);
    const { stdout: hostname } = await run('nsenter', [`--uts=${infoA.namespaces.uts}`, 'hostname']);
    assert.equal(hostname.trim(), 'alpha');
    const { stdout: lo } = await run('nsenter', [`--net=${infoA.namespaces.net}`, 'ip', '-o', 'link', 'show', 'lo']);
    assert.match(lo, /UP/);
    assert.equal(await readFile(infoA.files.resolvConf, 'utf8'), 'search test-ns.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n');
    assert.match(await readFile(infoA.files.hosts, 'utf8'), new RegExp(`${statusA.network.ip.replace(/\./g, '\\.')}\\talpha`));

    // A server in pod A, a client in pod B, over the bridge.
    const server = spawn('nsenter', [`--net=${infoA.namespaces.net}`, process.execPath, '-e', "require('net').createServer((s)=>s.end('hello from alpha')).listen(8080, ()=>console.log('ready'))"]);
    try {
      await new Promise((resolve) => server.stdout.once('data', resolve));
      const { stdout } = await run('nsenter', [`--net=${infoB.namespaces.net}`, process.execPath, '-e', `require('net').connect(8080, '${statusA.network.ip}').on('data', (d) => process.stdout.write(d))`]);
      assert.equal(stdout, 'hello from alpha');
    } finally {
      server.kill();
    }

    for (const id of [a.podSandboxId, b.podSandboxId]) {
      await daemon.client.runtime.StopPodSandbox!({ podSandboxId: id });
      await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });
    }
  });

  it('stop releases the IP, keeps the record NOTREADY, and stop/remove are idempotent', async () => {
    const { podSandboxId: id } = await daemon.client.runtime.RunPodSandbox!({ config: podConfig('gamma') });
    const ip = (await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id })).status.network.ip;
    const info = await verboseInfo(id);
    assert.ok(await exists(join(ipamDir(), network, ip)));

    await daemon.client.runtime.StopPodSandbox!({ podSandboxId: id });
    await daemon.client.runtime.StopPodSandbox!({ podSandboxId: id });
    assert.equal(await exists(join(ipamDir(), network, ip)), false, 'IP released');
    assert.equal((await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id })).status.state, 1);

    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });
    await assert.rejects(daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id }), { code: status.NOT_FOUND });
    assert.equal(await exists(info.namespaces.net), false, 'namespace pins removed');
    // Unknown ids stop and remove without error.
    await daemon.client.runtime.StopPodSandbox!({ podSandboxId: 'f'.repeat(64) });
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: 'f'.repeat(64) });
  });

  it('a pod on the host network has no pod IP and no network namespace', async () => {
    const { podSandboxId: id } = await daemon.client.runtime.RunPodSandbox!({
      config: podConfig('hostnet', { linux: { securityContext: { namespaceOptions: { network: 2, pid: 1, ipc: 0 } } } }),
    });
    const podStatus = (await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id })).status;
    assert.equal(podStatus.network.ip, '');
    const info = await verboseInfo(id);
    assert.equal(info.namespaces.net, undefined);
    assert.ok(info.namespaces.ipc);
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });
  });

  it('names are reserved: an identical retry gets the same pod, a different request is refused', async () => {
    const config = podConfig('delta');
    const first = await daemon.client.runtime.RunPodSandbox!({ config });
    const retry = await daemon.client.runtime.RunPodSandbox!({ config });
    assert.equal(retry.podSandboxId, first.podSandboxId);
    await assert.rejects(daemon.client.runtime.RunPodSandbox!({ config: { ...config, labels: { other: 'x' } } }), (err: { code: number; details: string }) => {
      assert.equal(err.code, status.ALREADY_EXISTS);
      assert.match(err.details, new RegExp(`reserved by ${first.podSandboxId}`));
      return true;
    });
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: first.podSandboxId });
    const again = await daemon.client.runtime.RunPodSandbox!({ config: { ...config, labels: { other: 'x' } } });
    assert.notEqual(again.podSandboxId, first.podSandboxId);
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: again.podSandboxId });
  });

  it('lists pods with id, state and label filters', async () => {
    const one = await daemon.client.runtime.RunPodSandbox!({ config: podConfig('list-one') });
    const two = await daemon.client.runtime.RunPodSandbox!({ config: podConfig('list-two') });
    await daemon.client.runtime.StopPodSandbox!({ podSandboxId: two.podSandboxId });
    const ids = async (filter: object) => (await daemon.client.runtime.ListPodSandbox!({ filter })).items.map((p: { id: string }) => p.id).sort();
    assert.deepEqual(await ids({ labelSelector: { suite: 'pods' } }), [one.podSandboxId, two.podSandboxId].sort());
    assert.deepEqual(await ids({ labelSelector: { app: 'list-one' } }), [one.podSandboxId]);
    assert.deepEqual(await ids({ state: { state: 1 }, labelSelector: { suite: 'pods' } }), [two.podSandboxId]);
    assert.deepEqual(await ids({ id: one.podSandboxId.slice(0, 12) }), [one.podSandboxId]);
    for (const p of [one, two]) await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: p.podSandboxId });
  });

  it('bad requests are INVALID_ARGUMENT and a failed RunPodSandbox leaves nothing behind', async () => {
    const before = await readdir(join(scratch.dir, 'run', 'sandboxes')).catch(() => []);
    const cases: [object, RegExp][] = [
      [{}, /^config: required/],
      [{ config: { hostname: 'x' } }, /^config\.metadata: required/],
      [{ config: { metadata: { name: 'x', namespace: 'y' } } }, /^config\.metadata\.uid: required/],
      [{ config: podConfig('bad-handler'), runtimeHandler: 'nope' }, /runtime_handler: unknown runtime handler "nope"/],
      [{ config: podConfig('inject', { linux: { sysctls: { 'kernel.shm_rmid_forced': '1+kernel.core_pattern=|/tmp/x' } } }) }, /config\.linux\.sysctls/],
      [{ config: podConfig('nodesysctl', { linux: { sysctls: { 'kernel.core_pattern': '|/tmp/x' } } }) }, /not a namespaced sysctl/],
      [{ config: podConfig('dns', { dnsConfig: { servers: ['1.1.1.1\nnameserver 6.6.6.6'] } }) }, /dns_config\.servers\[0\]/],
    ];
    const corePattern = await readFile('/proc/sys/kernel/core_pattern', 'utf8');
    for (const [request, message] of cases) {
      await assert.rejects(daemon.client.runtime.RunPodSandbox!(request), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT, err.details);
        assert.match(err.details, message);
        return true;
      });
    }
    assert.equal(await readFile('/proc/sys/kernel/core_pattern', 'utf8'), corePattern, 'host core_pattern unchanged');
    assert.deepEqual(await readdir(join(scratch.dir, 'run', 'sandboxes')).catch(() => []), before);
    assert.deepEqual((await daemon.client.runtime.ListPodSandbox!({ filter: { labelSelector: { suite: 'pods' } } })).items, []);
  });

  it('a CNI failure undoes every step', async () => {
    const scratch2 = await scratchDir('skiff-pods-fail-');
    const daemon2 = await startDaemon(scratch2.dir, ['--cni-plugin-dir', cniPluginDir]);
    try {
      // The bridge plugin gets as far as its IPAM call, which fails on the bad subnet.
      const brokenIpam = { type: 'host-local', ranges: [[{ subnet: '10.231.8.0/33' }]], dataDir: join(scratch2.dir, 'ipam') };
      await writeFile(join(scratch2.dir, 'cni', '10-broken.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'broken', plugins: [{ type: 'bridge', bridge: `${bridge}x`, ipam: brokenIpam }] }));
      await assert.rejects(daemon2.client.runtime.RunPodSandbox!({ config: podConfig('broken') }), /bridge|host-local|subnet/i);
      assert.deepEqual(await readdir(join(scratch2.dir, 'run', 'sandboxes')).catch(() => []), []);
      assert.deepEqual(await readdir(join(scratch2.dir, 'root', 'sandboxes')), []);
      const mounts = await readFile('/proc/self/mountinfo', 'utf8');
      assert.equal(mounts.includes(scratch2.dir), false, 'no namespace pin or shm left mounted');
      assert.deepEqual((await daemon2.client.runtime.ListPodSandbox!({})).items, []);
    } finally {
      await daemon2.stop();
      await run('ip', ['link', 'del', `${bridge}x`]).catch(() => undefined);
      await scratch2.cleanup();
    }
  });

  it('pods survive a kill -9 of the daemon with their state', async () => {
    const { podSandboxId: id } = await daemon.client.runtime.RunPodSandbox!({ config: podConfig('survivor') });
    const ip = (await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id })).status.network.ip;
    const exited = new Promise((resolve) => daemon.proc.once('exit', resolve));
    daemon.client.close();
    daemon.proc.kill('SIGKILL');
    await exited;
    daemon = await startDaemon(scratch.dir, ['--cni-plugin-dir', cniPluginDir]);
    const podStatus = (await daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id })).status;
    assert.equal(podStatus.state, 0);
    assert.equal(podStatus.network.ip, ip);
    // The name stays reserved across the restart.
    await assert.rejects(daemon.client.runtime.RunPodSandbox!({ config: podConfig('survivor', { labels: { changed: 'yes' } }) }), { code: status.ALREADY_EXISTS });
    await daemon.client.runtime.StopPodSandbox!({ podSandboxId: id });
    assert.equal(await exists(join(ipamDir(), network, ip)), false, 'DEL after restart released the IP');
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId: id });
  });
});
