// Parsing units of the stats readers: cgroup v2 (this host runs v1, so v2 is
// read from fixture directories holding the kernel's file formats), v1 from
// fixtures and from this host's live hierarchy, mountinfo, cgroup paths,
// /proc/net/dev and the CPU rate.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../../src/package_info.js';
import { nodeCgroupLayout } from '../../src/cgroups/hierarchies.js';
import { cgroupsPathDir } from '../../src/cgroups/paths.js';
import { parseLimit, parsePressure } from '../../src/metrics/cgroup_sample.js';
import { readCgroup } from '../../src/metrics/cgroup_stats.js';
import { readCgroupV1 } from '../../src/metrics/cgroup_v1.js';
import { readCgroupV2 } from '../../src/metrics/cgroup_v2.js';
import { CpuRates } from '../../src/metrics/cpu_rate.js';
import { defaultInterface, parseNetDev } from '../../src/metrics/net_dev.js';

const fixtures = join(packageRoot, 'test', 'metrics', 'fixtures');

describe('cgroup v2 reader', () => {
  it('reads cpu, memory (working set = current - inactive_file), swap, pids and PSI', async () => {
    const s = await readCgroupV2(join(fixtures, 'cgroup_v2', 'limited'));
    assert.ok(s);
    assert.equal(s.cpuUsageNs, 2503472 * 1000);
    assert.deepEqual(s.memory, {
      usage: 157286400,
      workingSet: 157286400 - 41943040,
      rss: 104857600,
      pageFaults: 48213,
      majorPageFaults: 17,
      limit: 268435456,
    });
    assert.deepEqual(s.swap, { usage: 4096, limit: 134217728 });
    assert.equal(s.pids, 7);
    assert.deepEqual(s.psi?.cpu?.some, { total: 1234567000, avg10: 1.5, avg60: 0.75, avg300: 0.2 });
    assert.deepEqual(s.psi?.io?.full, { total: 88000000, avg10: 1, avg60: 0.5, avg300: 0.25 });
    assert.equal(s.psi?.memory?.some?.total, 0);
  });

  it('"max" limits are no limit; the working set never goes negative; no PSI files, no PSI', async () => {
    const s = await readCgroupV2(join(fixtures, 'cgroup_v2', 'unlimited'));
    assert.ok(s?.memory);
    assert.equal(s.memory.limit, undefined);
    assert.equal(s.memory.workingSet, 0);
    assert.deepEqual(s.swap, { usage: 0 });
    assert.equal(s.psi, undefined);
  });

  it('a cgroup that does not exist reads as undefined', async () => {
    assert.equal(await readCgroupV2(join(fixtures, 'cgroup_v2', 'no-such-cgroup')), undefined);
  });
});

describe('cgroup v1 reader', () => {
  it('reads cpuacct and memory (total_* keys), swap from memsw; an absent controller is left out', async () => {
    const dir = join(fixtures, 'cgroup_v1');
    const s = await readCgroupV1({ cpuacct: join(dir, 'cpuacct'), memory: join(dir, 'memory'), pids: join(dir, 'pids') });
    assert.ok(s);
    assert.equal(s.cpuUsageNs, 5230118844);
    assert.deepEqual(s.memory, {
      usage: 62914560,
      workingSet: 62914560 - 16777216,
      rss: 41943040,
      pageFaults: 25000,
      majorPageFaults: 3,
      limit: 104857600,
    });
    // memsw has no limit: swap usage only.
    assert.deepEqual(s.swap, { usage: 67108864 - 62914560 });
    assert.equal(s.pids, undefined);
  });

  it('reads this host’s root cgroup live (cgroup v1 hybrid here)', async (t) => {
    const layout = await nodeCgroupLayout();
    if (layout.version !== 1) return t.skip('host is not cgroup v1');
    const s = await readCgroup(layout, '/');
    assert.ok(s?.cpuUsageNs && s.cpuUsageNs > 0);
    assert.ok(s.memory && s.memory.usage > 0 && s.memory.workingSet <= s.memory.usage);
    assert.equal(s.memory.limit, undefined, 'the root memory cgroup is unlimited');
    assert.equal(await readCgroup(layout, '/skiff/no-such-container'), undefined);
  });

  it('v1 unlimited sentinel and "max" are no limit', () => {
    assert.equal(parseLimit('9223372036854771712\n'), undefined);
    assert.equal(parseLimit('max\n'), undefined);
    assert.equal(parseLimit('1048576\n'), 1048576);
  });
});

describe('container cgroup from the OCI cgroupsPath', () => {
  it('cgroupfs paths as given, systemd "slice:prefix:name" as the scope in the slice', () => {
    assert.equal(cgroupsPathDir('/skiff/skiff-abc', 'cgroupfs'), '/skiff/skiff-abc');
    assert.equal(cgroupsPathDir('kubepods/besteffort/pod1/skiff-abc', 'cgroupfs'), '/kubepods/besteffort/pod1/skiff-abc');
    assert.equal(cgroupsPathDir('/a/../b', 'cgroupfs'), undefined);
    assert.equal(cgroupsPathDir('kubepods-besteffort-pod1.slice:skiff:abc', 'systemd'), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/skiff-abc.scope');
    assert.equal(cgroupsPathDir('system.slice:skiff:abc', 'systemd'), '/system.slice/skiff-abc.scope');
    assert.equal(cgroupsPathDir('-.slice:skiff:abc', 'systemd'), '/skiff-abc.scope');
    assert.equal(cgroupsPathDir('/skiff/skiff-abc', 'systemd'), undefined);
  });
});

describe('network and CPU rate', () => {
  it('parses /proc/net/dev without loopback; eth0 is the default interface', async () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0',
      ' net1:     500       5    1    0    0     0          0         0      700       7    2    0    0     0       0          0',
      '  eth0: 567154157   16050    3    0    0     0          0         0  1340307   11241    4    0    0     0       0          0',
    ].join('\n');
    const interfaces = parseNetDev(text);
    assert.deepEqual(interfaces.map((i) => i.name), ['net1', 'eth0']);
    assert.deepEqual(defaultInterface(interfaces), { name: 'eth0', rxBytes: 567154157, rxErrors: 3, txBytes: 1340307, txErrors: 4 });
    // And the daemon's own namespace parses too.
    assert.ok(Array.isArray(parseNetDev(await readFile('/proc/self/net/dev', 'utf8'))));
  });

  it('usage_nano_cores: since start at first, then between readings at least a second apart', () => {
    const rates = new CpuRates();
    const s = 1e9;
    // 1 s of CPU in the 2 s since start: half a core.
    assert.equal(rates.rate('c', 1 * s, 12 * s, 10 * s), 0.5e9);
    // 10 ms later: still measured from the start, not over 10 ms.
    assert.equal(rates.rate('c', 1.01 * s, 12.01 * s, 10 * s), Math.round((1.01 / 2.01) * 1e9));
    // 3 s later, 3 s more CPU: one core.
    assert.equal(rates.rate('c', 4 * s, 15 * s, 10 * s), 1e9);
    // A reading 10 ms later is measured from the reading before (12 s), not over 10 ms.
    assert.equal(rates.rate('c', 4.01 * s, 15.01 * s, 10 * s), Math.round(((4.01 - 1) / 3.01) * 1e9));
    // A counter that went backwards (a new cgroup) is no rate.
    assert.equal(rates.rate('c', 0.1 * s, 20 * s, 10 * s), 0);
    rates.retain(new Set());
    assert.equal(rates.rate('c', 1 * s, 21 * s, 20 * s), 1e9);
  });

  it('PSI lines without "full" (cpu on older kernels)', () => {
    assert.deepEqual(parsePressure('some avg10=0.10 avg60=0.20 avg300=0.30 total=5\n'), { some: { total: 5000, avg10: 0.1, avg60: 0.2, avg300: 0.3 } });
  });
});
