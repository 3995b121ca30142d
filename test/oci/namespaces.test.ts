import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { NamespaceMode, type NamespaceOption } from '../../src/proto/cri.js';
import { baseInput, containerConfig, fakeRootfs, podSecurityContext, rpcError, sandboxConfig } from './helpers.js';

const nsOptions = (pid: NamespaceMode, over: Partial<NamespaceOption> = {}): NamespaceOption => ({
  network: NamespaceMode.POD,
  pid,
  ipc: NamespaceMode.POD,
  targetId: '',
  usernsOptions: null,
  ...over,
});

describe('namespaces', () => {
  let root: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    root = await fakeRootfs({});
  });
  after(() => root.cleanup());

  it('joins the pod\'s pinned net/ipc/uts, new mount and pid (CONTAINER)', async () => {
    const { spec } = await buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { namespaceOptions: nsOptions(NamespaceMode.CONTAINER) }) }));
    assert.deepEqual(spec.linux.namespaces, [
      { type: 'mount' },
      { type: 'network', path: '/run/skiff/ns/net/pod0' },
      { type: 'ipc', path: '/run/skiff/ns/ipc/pod0' },
      { type: 'uts', path: '/run/skiff/ns/uts/pod0' },
      { type: 'pid' },
    ]);
    assert.equal(spec.hostname, 'pod-host');
  });

  it('POD and TARGET join the given PID namespace; NODE uses the host\'s', async () => {
    const withPid = (mode: NamespaceMode): ReturnType<typeof buildContainerSpec> => {
      const input = baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { namespaceOptions: nsOptions(mode, { targetId: 'other' }) }) });
      input.sandbox.namespaces.pid = '/proc/4242/ns/pid';
      return buildContainerSpec(input);
    };
    assert.deepEqual((await withPid(NamespaceMode.POD)).spec.linux.namespaces.find((n) => n.type === 'pid'), { type: 'pid', path: '/proc/4242/ns/pid' });
    assert.deepEqual((await withPid(NamespaceMode.TARGET)).spec.linux.namespaces.find((n) => n.type === 'pid'), { type: 'pid', path: '/proc/4242/ns/pid' });
    assert.equal((await withPid(NamespaceMode.NODE)).spec.linux.namespaces.find((n) => n.type === 'pid'), undefined);
  });

  it('POD without a shared PID namespace is FAILED_PRECONDITION', async () => {
    await assert.rejects(
      buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { namespaceOptions: nsOptions(NamespaceMode.POD) }) })),
      rpcError(status.FAILED_PRECONDITION, /^config\.linux\.security_context\.namespace_options\.pid: /),
    );
  });

  it('host network: no network or UTS namespace and no hostname; host IPC: no IPC namespace', async () => {
    const input = baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { namespaceOptions: nsOptions(NamespaceMode.NODE) }) });
    input.sandbox = { ...input.sandbox, hostNetwork: true, hostIpc: true, hostPid: true, namespaces: {} };
    const { spec } = await buildContainerSpec(input);
    assert.deepEqual(spec.linux.namespaces, [{ type: 'mount' }]);
    assert.equal(spec.hostname, undefined);
  });

  it('without namespace options the pod\'s hostPid decides; unpinned namespaces are new', async () => {
    const input = baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { namespaceOptions: null }) });
    input.sandbox = { ...input.sandbox, hostPid: true, namespaces: {} };
    const { spec } = await buildContainerSpec(input);
    assert.deepEqual(spec.linux.namespaces, [{ type: 'mount' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }]);
  });

  it('cgroup v2 nodes give a private cgroup namespace', async () => {
    const { spec } = await buildContainerSpec(baseInput(root.dir, { cgroupHost: { version: 2, memorySwap: true, hugetlb: false } }));
    assert.ok(spec.linux.namespaces.some((n) => n.type === 'cgroup' && n.path === undefined));
  });

  it('user namespaces with mappings are UNIMPLEMENTED, hostUsers (NODE) is fine', async () => {
    const userns = { mode: NamespaceMode.POD, uids: [{ hostId: 100000, containerId: 0, length: 65536 }], gids: [] };
    await assert.rejects(
      buildContainerSpec(
        baseInput(root.dir, { sandboxConfig: sandboxConfig({}, { namespaceOptions: nsOptions(NamespaceMode.CONTAINER, { usernsOptions: userns }) }) }),
      ),
      rpcError(status.UNIMPLEMENTED, /^sandbox_config\.linux\.security_context\.namespace_options\.userns_options: user namespaces/),
    );
    const host = { mode: NamespaceMode.NODE, uids: [], gids: [] };
    const ok = await buildContainerSpec(
      baseInput(root.dir, { sandboxConfig: sandboxConfig({}, podSecurityContext({ namespaceOptions: nsOptions(NamespaceMode.CONTAINER, { usernsOptions: host }) })) }),
    );
    assert.ok(!ok.spec.linux.namespaces.some((n) => n.type === 'user'));
  });
});
