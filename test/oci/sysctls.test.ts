import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { normalizeSysctlName, podSysctls } from '../../src/oci/spec/sysctls.js';
import { baseInput, fakeRootfs, rpcError, sandboxConfig } from './helpers.js';

const own = { hostNetwork: false, hostIpc: false };

describe('sysctls', () => {
  it('namespaced IPC and net sysctls pass; "/" spellings are normalised', () => {
    assert.deepEqual(
      podSysctls(
        {
          'kernel.shm_rmid_forced': '1',
          'kernel.msgmax': '65536',
          'kernel.sem': '250 32000 100 128',
          'fs.mqueue.msg_max': '100',
          'net.ipv4.ip_unprivileged_port_start': '0',
          'net/ipv4/ping_group_range': '0 2147483647',
        },
        own,
      ),
      {
        'kernel.shm_rmid_forced': '1',
        'kernel.msgmax': '65536',
        'kernel.sem': '250 32000 100 128',
        'fs.mqueue.msg_max': '100',
        'net.ipv4.ip_unprivileged_port_start': '0',
        'net.ipv4.ping_group_range': '0 2147483647',
      },
    );
    assert.equal(normalizeSysctlName('net/ipv4/conf/eth0.100/forwarding'), 'net.ipv4.conf.eth0/100.forwarding');
    assert.equal(normalizeSysctlName('net.ipv4.conf.eth0/100.forwarding'), 'net.ipv4.conf.eth0/100.forwarding');
  });

  it('node-wide sysctls are INVALID_ARGUMENT naming the key', () => {
    for (const key of ['kernel.core_pattern', 'vm.overcommit_memory', 'kernel.panic', 'fs.file-max', 'kernel.semx']) {
      assert.throws(() => podSysctls({ [key]: '1' }, own), rpcError(status.INVALID_ARGUMENT, new RegExp(`^sandbox_config\\.linux\\.sysctls\\["${key.replace(/\./g, '\\.')}"\\]: .*not a namespaced sysctl`)));
    }
  });

  it('net.* not with the host network, IPC ones not with host IPC', () => {
    assert.throws(() => podSysctls({ 'net.ipv4.tcp_syncookies': '1' }, { hostNetwork: true, hostIpc: false }), rpcError(status.INVALID_ARGUMENT, /host network/));
    assert.throws(() => podSysctls({ 'kernel.shmmax': '1' }, { hostNetwork: false, hostIpc: true }), rpcError(status.INVALID_ARGUMENT, /host IPC/));
    assert.deepEqual(podSysctls({ 'kernel.shmmax': '1' }, { hostNetwork: true, hostIpc: false }), { 'kernel.shmmax': '1' });
  });

  it('values cannot smuggle another setting', () => {
    for (const value of ['1+kernel.core_pattern=|/tmp/x', '1=2', '1\nkernel.core_pattern=|/x', '1\0', '']) {
      assert.throws(() => podSysctls({ 'kernel.shm_rmid_forced': value }, own), rpcError(status.INVALID_ARGUMENT, /kernel\.shm_rmid_forced/));
    }
    assert.throws(() => podSysctls({ 'net.ipv4..x': '1' }, own), rpcError(status.INVALID_ARGUMENT, /not a valid sysctl name/));
    assert.throws(() => podSysctls({ 'net.ipv4.a=b': '1' }, own), rpcError(status.INVALID_ARGUMENT, /not a valid sysctl name/));
  });

  describe('in the container spec', () => {
    let root: { dir: string; cleanup: () => Promise<void> };
    before(async () => {
      root = await fakeRootfs({});
    });
    after(() => root.cleanup());

    it('pod sysctls land in linux.sysctl', async () => {
      const { spec } = await buildContainerSpec(baseInput(root.dir, { sandboxConfig: sandboxConfig({}, {}, { 'net/ipv4/ip_forward': '1' }) }));
      assert.deepEqual(spec.linux.sysctl, { 'net.ipv4.ip_forward': '1' });
      const none = await buildContainerSpec(baseInput(root.dir));
      assert.equal(none.spec.linux.sysctl, undefined);
    });
  });
});
