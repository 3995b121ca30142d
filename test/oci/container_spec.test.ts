import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { annotationKeys } from '../../src/oci/spec/annotations.js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { buildSandboxSpec } from '../../src/oci/spec/sandbox.js';
import { defaultMaskedPaths, defaultReadonlyPaths } from '../../src/oci/spec/security.js';
import { specProblems } from '../../src/oci/spec/validate.js';
import { SecurityProfile_ProfileType } from '../../src/proto/cri.js';
import { baseInput, containerConfig, env, fakeRootfs, rpcError, sandboxConfig } from './helpers.js';

describe('container spec', () => {
  let root: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    root = await fakeRootfs({ '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n', '/etc/group': 'root:x:0:\n' });
  });
  after(() => root.cleanup());

  it('a typical container: every part present and structurally valid', async () => {
    const config = containerConfig(
      { command: ['/bin/server'], args: ['--port', '8080'], envs: [env('MODE', 'prod')], annotations: { 'example.com/a': 'b', [annotationKeys.sandboxId]: 'spoof' } },
      { seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: '' }, runAsUser: { value: 1000 } },
    );
    const { spec, user, stopSignal } = await buildContainerSpec(
      baseInput(root.dir, { config, sandboxConfig: sandboxConfig({}, {}, { 'kernel.shm_rmid_forced': '1' }) }),
    );
    assert.deepEqual(specProblems(spec), []);
    assert.equal(spec.ociVersion, '1.0.2');
    assert.deepEqual(spec.root, { path: root.dir, readonly: false });
    assert.deepEqual(spec.process.args, ['/bin/server', '--port', '8080']);
    assert.deepEqual(spec.process.user, { uid: 1000, gid: 0, additionalGids: [0] });
    assert.deepEqual(user, { uid: 1000, gid: 0, additionalGids: [0] });
    assert.equal(stopSignal, 'SIGTERM');
    assert.equal(spec.process.cwd, '/');
    assert.equal(spec.process.oomScoreAdj, 0);
    assert.equal(spec.hostname, 'pod-host');
    assert.deepEqual(spec.linux.maskedPaths, defaultMaskedPaths);
    assert.deepEqual(spec.linux.readonlyPaths, defaultReadonlyPaths);
    assert.deepEqual(spec.linux.sysctl, { 'kernel.shm_rmid_forced': '1' });
    assert.equal(spec.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(spec.annotations, {
      'example.com/a': 'b',
      [annotationKeys.sandboxId]: 'pod0',
      [annotationKeys.containerType]: 'container',
      [annotationKeys.sandboxName]: 'pod',
      [annotationKeys.sandboxNamespace]: 'default',
      [annotationKeys.sandboxUid]: 'uid-1',
      [annotationKeys.containerName]: 'app',
      [annotationKeys.imageName]: 'docker.io/library/app:1',
    });
    // The spec is what gets written: it must survive JSON.
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
  });

  it('CRI masked and readonly paths replace the defaults and are checked', async () => {
    const { spec } = await buildContainerSpec(
      baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] }) }),
    );
    assert.deepEqual(spec.linux.maskedPaths, ['/proc/kcore']);
    assert.deepEqual(spec.linux.readonlyPaths, ['/proc/sys']);
    await assert.rejects(
      buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { maskedPaths: ['/ok', 'proc/x'] }) })),
      rpcError(status.INVALID_ARGUMENT, /^config\.linux\.security_context\.masked_paths\[1\]: /),
    );
  });

  it('AppArmor: defaults are no-ops, a named profile is refused clearly', async () => {
    await buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { apparmor: { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: '' } }) }));
    await buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { apparmorProfile: 'unconfined' }) }));
    await assert.rejects(
      buildContainerSpec(
        baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { apparmor: { profileType: SecurityProfile_ProfileType.Localhost, localhostRef: 'k8s-apparmor' } }) }),
      ),
      rpcError(status.FAILED_PRECONDITION, /^config\.linux\.security_context\.apparmor\.localhost_ref: AppArmor is not enabled on this host/),
    );
    await assert.rejects(
      buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { apparmorProfile: 'localhost/k8s-apparmor' }) })),
      rpcError(status.FAILED_PRECONDITION, /apparmor_profile: AppArmor is not enabled/),
    );
  });

  it('missing required fields are INVALID_ARGUMENT, never a crash', async () => {
    const base = baseInput(root.dir);
    await assert.rejects(buildContainerSpec({ ...base, config: { ...base.config, metadata: null } }), rpcError(status.INVALID_ARGUMENT, /^config\.metadata: is required/));
    await assert.rejects(buildContainerSpec({ ...base, config: { ...base.config, image: null } }), rpcError(status.INVALID_ARGUMENT, /^config\.image: is required/));
    await assert.rejects(
      buildContainerSpec({ ...base, config: { ...base.config, metadata: { name: '', attempt: 0 } } }),
      rpcError(status.INVALID_ARGUMENT, /^config\.metadata\.name/),
    );
    await assert.rejects(buildContainerSpec({ ...base, sandboxConfig: { ...base.sandboxConfig, metadata: null } }), rpcError(status.INVALID_ARGUMENT, /^sandbox_config\.metadata/));
    await assert.rejects(buildContainerSpec({ ...base, config: { ...base.config, linux: null, command: [] } }), rpcError(status.INVALID_ARGUMENT, /^config\.command/));
    await assert.rejects(buildContainerSpec({ ...base, config: { ...base.config, CDIDevices: [{ name: 'vendor.com/gpu=0' }] } }), rpcError(status.UNIMPLEMENTED, /^config\.CDI_devices/));
  });

  it('a config without a linux section gets the defaults', async () => {
    const base = baseInput(root.dir);
    const { spec } = await buildContainerSpec({ ...base, config: { ...base.config, linux: null } });
    assert.deepEqual(specProblems(spec), []);
    assert.equal(spec.linux.seccomp, undefined);
    assert.equal(spec.process.capabilities?.bounding.length, 9);
    assert.ok(spec.linux.namespaces.some((n) => n.type === 'pid' && n.path === undefined));
  });

  it('specProblems catches what a runtime would reject', () => {
    const problems = specProblems({
      ociVersion: '0.9',
      process: { user: { uid: -1, gid: 0 }, args: [], env: ['NOEQUALS'], cwd: 'rel' },
      root: { path: '' },
      hostname: 'h',
      mounts: [
        { destination: '/a/b' },
        { destination: '/a' },
        { destination: '/a' },
      ],
      linux: { namespaces: [{ type: 'mount' }, { type: 'mount' }], sysctl: { 'net.x': '1' } },
    });
    for (const expected of ['ociVersion', 'root.path', 'process.args', 'process.cwd', 'process.user.uid', 'process.env[0]', 'mounts[1]', 'mounts[2].destination', 'linux.namespaces[1]', 'hostname', 'linux.sysctl.net.x']) {
      assert.ok(problems.some((p) => p.startsWith(expected)), `${expected} in ${problems.join('; ')}`);
    }
  });
});

describe('sandbox (infra) spec', () => {
  it('pause: read-only root, no capabilities, no_new_privs, own PID namespace, pod namespaces and cgroup', async () => {
    const base = baseInput('/unused');
    const { spec } = await buildSandboxSpec({
      id: 'pod0',
      sandboxConfig: sandboxConfig({}, { seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: '' } }, { 'net.ipv4.ip_forward': '1' }),
      rootfs: '/var/lib/skiff/pause/rootfs',
      command: ['/pause'],
      sandbox: base.sandbox,
      cgroupManager: 'cgroupfs',
      ownOomScoreAdj: -1000,
      cpuset: '0-1',
      cgroupHost: { version: 1, memorySwap: true, hugetlb: true },
      arch: 'amd64',
      kernel: '6.1.0',
    });
    assert.deepEqual(specProblems(spec), []);
    assert.deepEqual(spec.process.args, ['/pause']);
    assert.deepEqual(spec.process.user, { uid: 65535, gid: 65535 });
    assert.deepEqual(spec.process.capabilities, { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] });
    assert.equal(spec.process.noNewPrivileges, true);
    assert.equal(spec.process.oomScoreAdj, -998);
    assert.deepEqual(spec.root, { path: '/var/lib/skiff/pause/rootfs', readonly: true });
    assert.deepEqual(spec.linux.namespaces, [
      { type: 'mount' },
      { type: 'network', path: '/run/skiff/ns/net/pod0' },
      { type: 'ipc', path: '/run/skiff/ns/ipc/pod0' },
      { type: 'uts', path: '/run/skiff/ns/uts/pod0' },
      { type: 'pid' },
    ]);
    assert.equal(spec.linux.cgroupsPath, '/kubepods/pod1/skiff-pod0');
    assert.deepEqual(spec.linux.resources?.cpu, { cpus: '0-1' });
    assert.deepEqual(spec.linux.sysctl, { 'net.ipv4.ip_forward': '1' });
    assert.equal(spec.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(spec.annotations?.[annotationKeys.containerType], 'sandbox');
    assert.equal(spec.annotations?.[annotationKeys.sandboxLogDirectory], '/var/log/pods/x');
    assert.ok(!spec.mounts.some((m) => m.destination === '/etc/hosts'));
    assert.equal(spec.mounts.find((m) => m.destination === '/dev/shm')?.source, '/run/pod0/shm');
  });

  it('honours the pod\'s run_as_user/run_as_group and the daemon\'s oom floor', async () => {
    const base = baseInput('/unused');
    const { spec } = await buildSandboxSpec({
      id: 'pod0',
      sandboxConfig: sandboxConfig({}, { runAsUser: { value: 1234 }, runAsGroup: { value: 5678 } }),
      rootfs: '/r',
      command: ['/pause'],
      sandbox: { ...base.sandbox, hostNetwork: true },
      cgroupManager: 'systemd',
      ownOomScoreAdj: 0,
      cgroupHost: { version: 2, memorySwap: true, hugetlb: true },
    });
    assert.deepEqual(spec.process.user, { uid: 1234, gid: 5678 });
    assert.equal(spec.process.oomScoreAdj, 0);
    assert.equal(spec.hostname, undefined);
    assert.equal(spec.linux.cgroupsPath, 'kubepods-pod1.slice:skiff:pod0');
    assert.ok(spec.linux.namespaces.some((n) => n.type === 'cgroup'));
    assert.equal(spec.linux.seccomp, undefined);
  });
});
