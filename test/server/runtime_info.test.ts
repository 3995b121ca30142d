import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { promisify } from 'node:util';
import { parseRuntimeFeatures } from '../../src/oci/runtime_features.js';
import { packageVersion } from '../../src/package_info.js';
import { scratchDir, startDaemon, type RunningDaemon } from '../helpers/daemon.js';

const run = promisify(execFile);

const bridgeConflist = {
  cniVersion: '1.0.0',
  name: 'test-net',
  plugins: [{ type: 'bridge', bridge: 'skifftest0', ipam: { type: 'host-local', subnet: '10.99.0.0/16' } }],
};

describe('runtime info RPCs over the socket', () => {
  let daemon: RunningDaemon;
  let scratch: Awaited<ReturnType<typeof scratchDir>>;

  before(async () => {
    scratch = await scratchDir();
    daemon = await startDaemon(scratch.dir);
  });
  after(async () => {
    await daemon.stop();
    await scratch.cleanup();
  });

  it('Version names skiff, its package version and API v1', async () => {
    const reply = await daemon.client.runtime.Version!({ version: '0.1.0' });
    assert.equal(reply.runtimeName, 'skiff');
    assert.equal(reply.runtimeVersion, packageVersion);
    assert.equal(reply.runtimeApiVersion, 'v1');
    assert.equal(reply.version, '0.1.0');
  });

  it('Status says NetworkReady=false without a CNI config, then true once a conflist appears', async () => {
    const before = await daemon.client.runtime.Status!({});
    const network = before.status.conditions.find((c: { type: string }) => c.type === 'NetworkReady');
    assert.equal(network.status, false);
    assert.equal(network.reason, 'NetworkPluginNotReady');
    assert.match(network.message, /no CNI network config found in .*cni/);
    const runtime = before.status.conditions.find((c: { type: string }) => c.type === 'RuntimeReady');
    assert.equal(runtime.status, true, `runtime not ready: ${runtime.message}`);
    assert.deepEqual(before.info, {});

    await writeFile(join(scratch.dir, 'cni', '10-test.conflist'), JSON.stringify(bridgeConflist));
    const afterConf = await daemon.client.runtime.Status!({});
    const ready = afterConf.status.conditions.find((c: { type: string }) => c.type === 'NetworkReady');
    assert.equal(ready.status, true);
    assert.deepEqual(
      afterConf.runtimeHandlers.map((h: { name: string }) => h.name).sort(),
      ['', 'crun', 'runc'],
      'every handler, and the default one under the empty name',
    );
    // Recursive read-only mounts exactly where the runtime's own `features` lists the rro option.
    const rro = async (binary: string): Promise<boolean> =>
      run(binary, ['features']).then(
        ({ stdout }) => parseRuntimeFeatures(stdout).recursiveReadOnlyMounts,
        () => false,
      );
    const byName = new Map(afterConf.runtimeHandlers.map((h: { name: string; features: object }) => [h.name, h.features]));
    assert.deepEqual(byName.get('runc'), { recursiveReadOnlyMounts: await rro('runc'), userNamespaces: false });
    assert.deepEqual(byName.get('crun'), { recursiveReadOnlyMounts: await rro('crun'), userNamespaces: false });
    assert.deepEqual(byName.get(''), byName.get('runc'), 'the default handler is runc');
    // The kubelet admits pods with supplementalGroupsPolicy: Strict only when the runtime says it can.
    assert.deepEqual(afterConf.features, { supplementalGroupsPolicy: true, userNamespacesHostNetwork: false });
  });

  it('Status verbose carries the effective config as JSON', async () => {
    const reply = await daemon.client.runtime.Status!({ verbose: true });
    const config = JSON.parse(reply.info.config);
    assert.equal(config.root, join(scratch.dir, 'root'));
    assert.equal(config.network.cni_config_dir, join(scratch.dir, 'cni'));
  });

  it('UpdateRuntimeConfig takes the pod CIDR (dual-stack too), shows it in Status, rejects a malformed one', async () => {
    await daemon.client.runtime.UpdateRuntimeConfig!({});
    assert.equal((await daemon.client.runtime.Status!({ verbose: true })).info.podCIDR, undefined, 'nothing recorded for an empty config');
    await daemon.client.runtime.UpdateRuntimeConfig!({ runtimeConfig: { networkConfig: { podCidr: '10.244.3.0/24,fd00:10:244:3::/64' } } });
    assert.equal((await daemon.client.runtime.Status!({ verbose: true })).info.podCIDR, '10.244.3.0/24,fd00:10:244:3::/64');
    for (const bad of ['10.244.3.0', '10.244.3.0/33', 'fd00::/129', 'not-an-ip/24', '10.244.3.0/24/1']) {
      await assert.rejects(daemon.client.runtime.UpdateRuntimeConfig!({ runtimeConfig: { networkConfig: { podCidr: bad } } }), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT, bad);
        assert.match(err.details, /runtime_config\.network_config\.pod_cidr/);
        return true;
      });
    }
    assert.equal((await daemon.client.runtime.Status!({ verbose: true })).info.podCIDR, '10.244.3.0/24,fd00:10:244:3::/64', 'a rejected CIDR changes nothing');
  });

  it('RuntimeConfig reports the cgroupfs driver by default', async () => {
    const reply = await daemon.client.runtime.RuntimeConfig!({});
    assert.equal(reply.linux.cgroupDriver, 1 /* CGROUPFS */);
  });

  it('an unimplemented unary RPC answers UNIMPLEMENTED naming it', async () => {
    await assert.rejects(daemon.client.runtime.CheckpointContainer!({}), (err: { code: number; details: string }) => {
      assert.equal(err.code, status.UNIMPLEMENTED);
      assert.match(err.details, /runtime\.v1\.RuntimeService\/CheckpointContainer is not implemented/);
      return true;
    });
  });

  it('StreamPodSandboxMetrics with no pods ends at once with nothing', async () => {
    assert.deepEqual(await daemon.client.stream('runtime', 'StreamPodSandboxMetrics', {}), []);
  });

  it('logs one debug line per RPC with method, duration and code', async () => {
    await daemon.client.runtime.Version!({});
    const lines = daemon.stderr().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const rpc = lines.find((l) => l.method === 'runtime.v1.RuntimeService/Version');
    assert.ok(rpc, 'no rpc log line');
    assert.equal(rpc.code, 'OK');
    assert.equal(typeof rpc.ms, 'number');
    const failed = lines.find((l) => l.method === 'runtime.v1.RuntimeService/CheckpointContainer');
    assert.equal(failed.code, 'UNIMPLEMENTED');
  });
});

describe('RuntimeConfig with --cgroup-manager systemd', () => {
  it('reports the systemd driver', async () => {
    const scratch = await scratchDir();
    const daemon = await startDaemon(scratch.dir, ['--cgroup-manager', 'systemd']);
    try {
      const reply = await daemon.client.runtime.RuntimeConfig!({});
      assert.equal(reply.linux.cgroupDriver, 0 /* SYSTEMD */);
    } finally {
      await daemon.stop();
      await scratch.cleanup();
    }
  });
});
