import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { buildResources, cgroupsPath, detectCgroupHost, oomScoreAdj, systemdSlice, type CgroupHost } from '../../src/oci/spec/resources.js';
import type { LinuxContainerResources } from '../../src/proto/cri.js';
import { baseInput, containerConfig, fakeRootfs, resources, rpcError } from './helpers.js';

const v1: CgroupHost = { version: 1, memorySwap: true, hugetlb: true };
const v2: CgroupHost = { version: 2, memorySwap: true, hugetlb: true };
const field = 'config.linux.resources';

describe('resources', () => {
  it('maps CPU, memory, cpuset and hugepages; zero means unset', () => {
    const out = buildResources(
      resources({
        cpuShares: 512,
        cpuQuota: 50000,
        cpuPeriod: 100000,
        cpusetCpus: '0-1,3',
        cpusetMems: '0',
        memoryLimitInBytes: 256 * 1024 ** 2,
        hugepageLimits: [{ pageSize: '2MB', limit: 4 * 1024 ** 2 }],
      }),
      { host: v1, field },
    );
    assert.deepEqual(out, {
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1,3', mems: '0' },
      memory: { limit: 256 * 1024 ** 2, swap: 256 * 1024 ** 2 },
      hugepageLimits: [{ pageSize: '2MB', limit: 4 * 1024 ** 2 }],
    });
    assert.deepEqual(buildResources(resources(), { host: v1, field }), {});
    assert.deepEqual(buildResources(null, { host: v1, field, pidsLimit: 1024 }), { pids: { limit: 1024 } });
  });

  it('swap: explicit memory+swap limit, -1 unlimited, none without swap accounting', () => {
    const mem = 100 * 1024 ** 2;
    assert.deepEqual(buildResources(resources({ memoryLimitInBytes: mem, memorySwapLimitInBytes: 2 * mem }), { host: v1, field }).memory, { limit: mem, swap: 2 * mem });
    assert.deepEqual(buildResources(resources({ memoryLimitInBytes: mem, memorySwapLimitInBytes: -1 }), { host: v1, field }).memory, { limit: mem, swap: -1 });
    assert.deepEqual(buildResources(resources({ memoryLimitInBytes: mem }), { host: { ...v1, memorySwap: false }, field }).memory, { limit: mem });
    assert.throws(
      () => buildResources(resources({ memoryLimitInBytes: mem, memorySwapLimitInBytes: mem / 2 }), { host: v1, field }),
      rpcError(status.INVALID_ARGUMENT, /^config\.linux\.resources\.memory_swap_limit_in_bytes: .*below/),
    );
  });

  it('a removed CPU limit (-1) is kept; other negatives are INVALID_ARGUMENT naming the field', () => {
    assert.deepEqual(buildResources(resources({ cpuQuota: -1 }), { host: v1, field }).cpu, { quota: -1 });
    const bad = (r: Partial<LinuxContainerResources>, re: RegExp): void => {
      assert.throws(() => buildResources(resources(r), { host: v1, field }), rpcError(status.INVALID_ARGUMENT, re));
    };
    bad({ cpuShares: -2 }, /^config\.linux\.resources\.cpu_shares: -2/);
    bad({ cpuQuota: -5 }, /^config\.linux\.resources\.cpu_quota: -5/);
    bad({ cpuPeriod: -1 }, /^config\.linux\.resources\.cpu_period: /);
    bad({ memoryLimitInBytes: -1 }, /^config\.linux\.resources\.memory_limit_in_bytes: /);
    bad({ cpusetCpus: '0-1;rm' }, /^config\.linux\.resources\.cpuset_cpus: /);
    bad({ hugepageLimits: [{ pageSize: '2M', limit: 1 }] }, /^config\.linux\.resources\.hugepage_limits\[0\]\.page_size: /);
  });

  it('hugepages without a hugetlb controller: zero limits dropped, real ones refused', () => {
    const host = { ...v1, hugetlb: false };
    assert.equal(buildResources(resources({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }, { pageSize: '1GB', limit: 0 }] }), { host, field }).hugepageLimits, undefined);
    assert.throws(
      () => buildResources(resources({ hugepageLimits: [{ pageSize: '2MB', limit: 0 }, { pageSize: '1GB', limit: 1024 ** 3 }] }), { host, field }),
      rpcError(status.FAILED_PRECONDITION, /^config\.linux\.resources\.hugepage_limits\[1\]: /),
    );
  });

  it('unified: passed through on cgroup v2, refused on v1, keys checked', () => {
    assert.deepEqual(buildResources(resources({ unified: { 'memory.high': '1000000' } }), { host: v2, field }).unified, { 'memory.high': '1000000' });
    assert.throws(
      () => buildResources(resources({ unified: { 'memory.high': '1' } }), { host: v1, field }),
      rpcError(status.FAILED_PRECONDITION, /^config\.linux\.resources\.unified: needs cgroup v2/),
    );
    assert.throws(() => buildResources(resources({ unified: { '../../x': '1' } }), { host: v2, field }), rpcError(status.INVALID_ARGUMENT, /unified/));
    assert.throws(() => buildResources(resources({ unified: { 'memory.high': '1\n2' } }), { host: v2, field }), rpcError(status.INVALID_ARGUMENT, /newline/));
  });

  it('oom_score_adj is clamped up to the daemon\'s own and range-checked', () => {
    assert.equal(oomScoreAdj('f', -997, 0), 0);
    assert.equal(oomScoreAdj('f', 1000, 0), 1000);
    assert.equal(oomScoreAdj('f', -500, -999), -500);
    assert.throws(() => oomScoreAdj('config.linux.resources.oom_score_adj', -1001, 0), rpcError(status.INVALID_ARGUMENT, /^config\.linux\.resources\.oom_score_adj: /));
  });

  it('cgroupsPath for cgroupfs and systemd', () => {
    assert.equal(cgroupsPath('cgroupfs', '/kubepods/burstable/pod1', 'abc'), '/kubepods/burstable/pod1/skiff-abc');
    assert.equal(cgroupsPath('cgroupfs', 'kubepods//pod1/', 'abc'), '/kubepods/pod1/skiff-abc');
    assert.equal(cgroupsPath('cgroupfs', '', 'abc'), '/skiff/skiff-abc');
    assert.equal(cgroupsPath('systemd', 'kubepods-burstable-pod1.slice', 'abc'), 'kubepods-burstable-pod1.slice:skiff:abc');
    assert.equal(cgroupsPath('systemd', '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod2.slice', 'abc'), 'kubepods-besteffort-pod2.slice:skiff:abc');
    assert.equal(systemdSlice('/kubepods/burstable/pod-1'), 'kubepods-burstable-pod_1.slice');
    assert.equal(cgroupsPath('systemd', '', 'abc'), 'system.slice:skiff:abc');
    assert.throws(() => cgroupsPath('cgroupfs', '/kubepods/../../etc', 'abc'), rpcError(status.INVALID_ARGUMENT, /cgroup_parent/));
  });

  it('detects this node\'s cgroup setup', async () => {
    const host = await detectCgroupHost();
    assert.ok(host.version === 1 || host.version === 2);
    assert.equal(typeof host.memorySwap, 'boolean');
  });

  describe('in the container spec', () => {
    let root: { dir: string; cleanup: () => Promise<void> };
    before(async () => {
      root = await fakeRootfs({});
    });
    after(() => root.cleanup());

    it('resources, oom clamp, cgroupsPath and the device rules land in linux/process', async () => {
      const config = containerConfig({ command: ['/x'] });
      config.linux = { resources: resources({ cpuShares: 2, oomScoreAdj: -997, memoryLimitInBytes: 1 << 30 }), securityContext: config.linux?.securityContext ?? null };
      const { spec } = await buildContainerSpec(baseInput(root.dir, { config, ownOomScoreAdj: 0, pidsLimit: 4096 }));
      assert.equal(spec.process.oomScoreAdj, 0);
      assert.equal(spec.linux.cgroupsPath, '/kubepods/pod1/skiff-c0ffee');
      assert.deepEqual(spec.linux.resources?.cpu, { shares: 2 });
      assert.deepEqual(spec.linux.resources?.memory, { limit: 1 << 30, swap: 1 << 30 });
      assert.deepEqual(spec.linux.resources?.pids, { limit: 4096 });
      assert.deepEqual(spec.linux.resources?.devices?.[0], { allow: false, access: 'rwm' });
      const systemd = await buildContainerSpec(baseInput(root.dir, { cgroupManager: 'systemd', sandbox: { ...baseInput(root.dir).sandbox, cgroupParent: 'kubepods-pod1.slice' } }));
      assert.equal(systemd.spec.linux.cgroupsPath, 'kubepods-pod1.slice:skiff:c0ffee');
    });
  });
});
