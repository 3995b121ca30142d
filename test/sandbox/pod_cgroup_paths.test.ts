import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { parseCgroupMounts, unifiedHierarchy, v1Hierarchy } from '../../src/cgroups/hierarchies.js';
import { childSlice, containerCgroupDir, podCgroup, sliceDir } from '../../src/cgroups/paths.js';
import { applyPodResources, cpuWeight, createPodCgroup, podResources, unlimitedResources } from '../../src/cgroups/pod_cgroup.js';
import { cgroupsPath } from '../../src/oci/spec/resources.js';

const id = 'ab12'.repeat(16);

describe('pod cgroup paths', () => {
  it('cgroupfs: the kubelet\'s cgroup_parent is the pod cgroup; containers nest in it', () => {
    const pod = podCgroup('cgroupfs', '/kubepods/burstable/pod1234', '/skiff', id);
    assert.deepEqual(pod, { parent: '/kubepods/burstable/pod1234', path: '/kubepods/burstable/pod1234' });
    assert.equal(cgroupsPath('cgroupfs', pod.parent, 'c1'), '/kubepods/burstable/pod1234/skiff-c1');
    assert.equal(containerCgroupDir('cgroupfs', pod, 'c1'), '/kubepods/burstable/pod1234/skiff-c1');
    // Unclean but harmless spellings are cleaned.
    assert.equal(podCgroup('cgroupfs', 'kubepods//besteffort/./podX/', '/skiff', id).path, '/kubepods/besteffort/podX');
  });

  it('cgroupfs: without a cgroup_parent the pod gets its own cgroup below the default parent', () => {
    assert.deepEqual(podCgroup('cgroupfs', '', '/skiff', id), { parent: `/skiff/pod${id}`, path: `/skiff/pod${id}` });
    assert.equal(podCgroup('cgroupfs', '', '/', id).path, `/pod${id}`);
    assert.equal(podCgroup('cgroupfs', '', '/a/b/', id).path, `/a/b/pod${id}`);
  });

  it('systemd: slices, converted cgroupfs-style parents, the default parent, and their directories', () => {
    const kube = podCgroup('systemd', 'kubepods-burstable-pod1234.slice', '/skiff', id);
    assert.deepEqual(kube, { parent: 'kubepods-burstable-pod1234.slice', path: '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice' });
    assert.equal(cgroupsPath('systemd', kube.parent, 'c1'), 'kubepods-burstable-pod1234.slice:skiff:c1');
    assert.equal(containerCgroupDir('systemd', kube, 'c1'), `${kube.path}/skiff-c1.scope`);
    // critest sends "/test.slice" under systemd.
    assert.deepEqual(podCgroup('systemd', '/test.slice', '/skiff', id), { parent: 'test.slice', path: '/test.slice' });
    // A cgroupfs-style path is converted the way the kubelet converts it.
    assert.equal(podCgroup('systemd', '/kubepods/burstable/pod1-2', '/skiff', id).parent, 'kubepods-burstable-pod1_2.slice');
    assert.deepEqual(podCgroup('systemd', '', '/skiff', id), { parent: `skiff-pod${id}.slice`, path: `/skiff.slice/skiff-pod${id}.slice` });
    assert.equal(podCgroup('systemd', '', 'system.slice', id).parent, `system-pod${id}.slice`);
    assert.equal(childSlice('-.slice', 'x'), 'x.slice');
    assert.equal(sliceDir('-.slice'), '/');
    assert.equal(sliceDir('a.slice'), '/a.slice');
  });

  it('refuses parents that escape or are not cgroups, naming the field', () => {
    const bad: [Parameters<typeof podCgroup>[0], string][] = [
      ['cgroupfs', '/kubepods/../../etc'],
      ['cgroupfs', '/kube\npods'],
      ['cgroupfs', '/'],
      ['systemd', 'a--b.slice'],
      ['systemd', 'bad:name.slice'],
    ];
    for (const [manager, parent] of bad) {
      assert.throws(
        () => podCgroup(manager, parent, '/skiff', id),
        (err: { code: number; message: string }) => err.code === status.INVALID_ARGUMENT && err.message.startsWith('config.linux.cgroup_parent:'),
        `${manager} ${JSON.stringify(parent)}`,
      );
    }
    assert.throws(() => podCgroup('cgroupfs', '', '/skiff', '../x'), /pod sandbox id/);
  });
});

describe('cgroup hierarchies from mountinfo', () => {
  it('a hybrid node: v1 controllers (co-mounted and named) plus the unified tree', () => {
    const layout = parseCgroupMounts(
      [
        '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
        '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
        '34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children',
        '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
        '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
        // A second mount of the same hierarchy, and a bind of a sub-tree: neither counts.
        '90 31 0:29 / /mnt/cpu\\040copy rw - cgroup cgroup rw,cpu,cpuacct',
        '91 31 0:31 /kubepods /mnt/sub rw - cgroup cgroup rw,cpuset',
        '',
      ].join('\n'),
    );
    assert.equal(layout.version, 1);
    assert.deepEqual(layout.hierarchies.map((h) => [h.version, h.mountPoint, h.controllers]), [
      [1, '/sys/fs/cgroup/cpu,cpuacct', ['cpu', 'cpuacct']],
      [1, '/sys/fs/cgroup/cpuset', ['cpuset']],
      [1, '/sys/fs/cgroup/systemd', ['name=systemd']],
      [2, '/sys/fs/cgroup/unified', []],
    ]);
    assert.equal(v1Hierarchy(layout, 'cpuacct')?.mountPoint, '/sys/fs/cgroup/cpu,cpuacct');
    assert.equal(v1Hierarchy(layout, 'memory'), undefined);
  });

  it('a unified node', () => {
    const layout = parseCgroupMounts('30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n');
    assert.equal(layout.version, 2);
    assert.equal(unifiedHierarchy(layout)?.mountPoint, '/sys/fs/cgroup');
  });
});

describe('pod resources', () => {
  const none = unlimitedResources();

  it('adds the overhead to the containers\' sum; unbounded stays unbounded', () => {
    assert.equal(podResources(null, null), undefined);
    const sum = podResources(
      { ...none, cpuPeriod: 100000, cpuQuota: 150000, cpuShares: 1536, memoryLimitInBytes: 256 << 20 },
      { ...none, cpuPeriod: 50000, cpuQuota: 25000, cpuShares: 102, memoryLimitInBytes: 32 << 20 },
    )!;
    assert.equal(sum.cpuShares, 1638);
    assert.equal(sum.cpuPeriod, 100000);
    assert.equal(sum.cpuQuota, 200000);
    assert.equal(sum.memoryLimitInBytes, 288 << 20);
    const unbounded = podResources({ ...none, cpuShares: 2 }, { ...none, cpuShares: 10, memoryLimitInBytes: 1 << 20, cpuQuota: 1000, cpuPeriod: 100000 })!;
    assert.equal(unbounded.memoryLimitInBytes, 0);
    assert.equal(unbounded.cpuQuota, 0);
    assert.equal(unbounded.cpuShares, 12);
  });

  it('converts shares to v2 weights as runc does', () => {
    assert.equal(cpuWeight(2), 1);
    assert.equal(cpuWeight(1024), 39);
    assert.equal(cpuWeight(262144), 10000);
  });
});

describe('pod cgroup files (a scratch directory standing in for a hierarchy)', () => {
  it('v2: levels made hand the controllers down; resources land in the v2 files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'skiff-cg2-'));
    try {
      await writeFile(join(root, 'cgroup.controllers'), 'cpu memory\n');
      const layout = { version: 2 as const, hierarchies: [{ version: 2 as const, mountPoint: root, controllers: [] }] };
      assert.equal(await createPodCgroup(layout, '/kube/podA'), true);
      assert.match(await readFile(join(root, 'cgroup.subtree_control'), 'utf8'), /^\+(cpu|memory)$/);
      assert.equal(await createPodCgroup(layout, '/kube/podA'), false, 'an existing cgroup is not taken for skiff\'s');
      await applyPodResources(layout, '/kube/podA', { cpu: { shares: 1024, quota: 50000, period: 100000 }, memory: { limit: 64 << 20, swap: 96 << 20 }, pids: { limit: 100 }, unified: { 'memory.high': '50000000' } });
      const read = (f: string) => readFile(join(root, 'kube/podA', f), 'utf8');
      assert.equal(await read('cpu.weight'), '39');
      assert.equal(await read('cpu.max'), '50000 100000');
      assert.equal(await read('memory.max'), String(64 << 20));
      assert.equal(await read('memory.swap.max'), String(32 << 20));
      assert.equal(await read('pids.max'), '100');
      assert.equal(await read('memory.high'), '50000000');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('v1: resources go to the hierarchy of their controller; a missing one is an error', async () => {
    const root = await mkdtemp(join(tmpdir(), 'skiff-cg1-'));
    try {
      const layout = {
        version: 1 as const,
        hierarchies: [
          { version: 1 as const, mountPoint: join(root, 'cpu,cpuacct'), controllers: ['cpu', 'cpuacct'] },
          { version: 1 as const, mountPoint: join(root, 'memory'), controllers: ['memory'] },
        ],
      };
      for (const h of layout.hierarchies) await mkdir(h.mountPoint);
      assert.equal(await createPodCgroup(layout, '/p'), true);
      await applyPodResources(layout, '/p', { cpu: { shares: 512, quota: 20000, period: 100000 }, memory: { limit: 1 << 20 } });
      assert.equal(await readFile(join(root, 'cpu,cpuacct/p/cpu.shares'), 'utf8'), '512');
      assert.equal(await readFile(join(root, 'cpu,cpuacct/p/cpu.cfs_quota_us'), 'utf8'), '20000');
      assert.equal(await readFile(join(root, 'memory/p/memory.limit_in_bytes'), 'utf8'), String(1 << 20));
      await assert.rejects(applyPodResources(layout, '/p', { pids: { limit: 5 } }), /no hierarchy mounted for pids\.max/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
