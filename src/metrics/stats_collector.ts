// Container and pod stats as the CRI reports them, assembled from the
// cgroups, the writable layer and the pod's network namespace. Everything is
// read through fs/promises or addon threads; only the CPU rate baselines and
// the container → cgroup lookups are kept in memory.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleCgroupDir } from '../cgroups/bundle_cgroup.js';
import { nodeCgroupLayout } from '../cgroups/hierarchies.js';
import { containerRunDir, type ContainerDeps, type ContainerRecord } from '../container/containers.js';
import { dirUsage } from '../native/index.js';
import { containerPidFile } from '../oci/runtime/conmon_args.js';
import { readPidFile } from '../process/pid_file.js';
import type { ContainerStats, Init, NetworkInterfaceUsage, NetworkUsage, PodSandboxStats, PsiStats } from '../proto/cri.js';
import type { PodDeps, SandboxRecord } from '../sandbox/pods.js';
import type { CgroupSample, PressureStats } from './cgroup_sample.js';
import { readCgroup } from './cgroup_stats.js';
import { CpuRates } from './cpu_rate.js';
import { defaultInterface, parseNetDev, type InterfaceCounters } from './net_dev.js';

export class StatsCollector {
  private readonly cpuRates = new CpuRates();
  /** Container id → its cgroup, read once from its spec (undefined: it names none we can read). */
  private readonly cgroups = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly containers: ContainerDeps,
    private readonly pods: PodDeps,
  ) {
    this.pods.events?.subscribe((event) => {
      if (event.kind === 'deleted') this.forget(event.containerId);
    });
  }

  /** Stats of one container; an exited one has no live cgroup values, only its writable layer. */
  /** `withLayer` false skips the writable layer's walk (the metrics RPCs report no filesystem usage). */
  async containerStats(c: ContainerRecord, withLayer = true): Promise<Init<ContainerStats>> {
    const live = c.phase === 'running' || c.phase === 'created';
    const [sample, layer] = await Promise.all([live ? this.containerSample(c) : undefined, withLayer ? this.writableLayer(c) : null]);
    const now = Date.now() * 1e6;
    return {
      attributes: { id: c.id, metadata: c.config.metadata, labels: c.config.labels, annotations: c.config.annotations },
      ...this.usage(c.id, sample, now, c.startedAt || c.createdAt),
      writableLayer: layer,
    };
  }

  /** Stats of a pod: its cgroup (or the sum of its containers'), network, process count and each container. */
  async podStats(pod: SandboxRecord, members: ContainerRecord[], withLayers = true): Promise<Init<PodSandboxStats>> {
    const [containerStats, sample, network] = await Promise.all([
      Promise.all(members.map((c) => this.containerStats(c, withLayers))),
      this.podSample(pod, members),
      this.podNetwork(pod, members),
    ]);
    const now = Date.now() * 1e6;
    const usage = this.usage(pod.id, sample, now, pod.createdAt);
    return {
      attributes: { id: pod.id, metadata: pod.config.metadata, labels: pod.config.labels, annotations: pod.config.annotations },
      linux: {
        cpu: usage.cpu,
        memory: usage.memory,
        io: usage.io,
        network,
        process: sample?.pids !== undefined ? { timestamp: now, processCount: { value: sample.pids } } : null,
        containers: containerStats,
      },
    };
  }

  private usage(id: string, sample: CgroupSample | undefined, now: number, startedAt: number): Pick<Init<ContainerStats>, 'cpu' | 'memory' | 'swap' | 'io'> {
    const m = sample?.memory;
    return {
      cpu:
        sample?.cpuUsageNs !== undefined
          ? {
              timestamp: now,
              usageCoreNanoSeconds: { value: sample.cpuUsageNs },
              usageNanoCores: { value: this.cpuRates.rate(id, sample.cpuUsageNs, now, startedAt) },
              psi: psiOf(sample.psi?.cpu),
            }
          : null,
      memory: m
        ? {
            timestamp: now,
            workingSetBytes: { value: m.workingSet },
            availableBytes: m.limit !== undefined ? { value: Math.max(0, m.limit - m.workingSet) } : null,
            usageBytes: { value: m.usage },
            rssBytes: { value: m.rss },
            pageFaults: { value: m.pageFaults },
            majorPageFaults: { value: m.majorPageFaults },
            psi: psiOf(sample?.psi?.memory),
          }
        : null,
      swap: sample?.swap
        ? {
            timestamp: now,
            swapUsageBytes: { value: sample.swap.usage },
            swapAvailableBytes: sample.swap.limit !== undefined ? { value: Math.max(0, sample.swap.limit - sample.swap.usage) } : null,
          }
        : null,
      io: sample?.psi?.io ? { timestamp: now, psi: psiOf(sample.psi.io) } : null,
    };
  }

  private async containerSample(c: ContainerRecord): Promise<CgroupSample | undefined> {
    const [layout, path] = await Promise.all([nodeCgroupLayout(), this.cgroupOf(c.id)]);
    return path ? readCgroup(layout, path) : undefined;
  }

  private cgroupOf(id: string): Promise<string | undefined> {
    let path = this.cgroups.get(id);
    if (!path) {
      path = bundleCgroupDir(containerRunDir(this.containers.config, id), this.containers.config.cgroup_manager);
      this.cgroups.set(id, path);
      // A spec not written yet (or unreadable) is looked up again next time.
      void path.then((p) => p === undefined && this.cgroups.delete(id));
    }
    return path;
  }

  /** The pod's own cgroup (its containers and infra nest in it); else the sum over its live containers. */
  private async podSample(pod: SandboxRecord, members: ContainerRecord[]): Promise<CgroupSample | undefined> {
    const layout = await nodeCgroupLayout();
    // Records written before pods had their own cgroup carry no path.
    const own = pod.cgroupPath ? await readCgroup(layout, pod.cgroupPath) : undefined;
    if (own) return own;
    const samples = await Promise.all(members.filter((c) => c.phase === 'running' || c.phase === 'created').map((c) => this.containerSample(c)));
    return sumSamples(samples.filter((s): s is CgroupSample => s !== undefined));
  }

  /** Counters of the pod's network namespace, read through a process of the pod that lives in it. */
  private async podNetwork(pod: SandboxRecord, members: ContainerRecord[]): Promise<Init<NetworkUsage> | null> {
    if (pod.hostNetwork || !pod.namespaces.net) return null;
    const netns = await stat(pod.namespaces.net).catch(() => undefined);
    if (!netns) return null;
    for await (const pid of this.podPids(pod, members)) {
      // The pid may already belong to another process after an unseen exit: it counts only inside the pod's netns.
      const ns = await stat(`/proc/${pid}/ns/net`).catch(() => undefined);
      if (!ns || ns.ino !== netns.ino || ns.dev !== netns.dev) continue;
      const text = await readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const interfaces = parseNetDev(text);
      const primary = defaultInterface(interfaces);
      return {
        timestamp: Date.now() * 1e6,
        defaultInterface: primary ? interfaceUsage(primary) : null,
        interfaces: interfaces.filter((i) => i !== primary).map(interfaceUsage),
      };
    }
    // No process in the netns (every container has exited): no network sample.
    return null;
  }

  /** The infra process, then the running containers' init processes. */
  private async *podPids(pod: SandboxRecord, members: ContainerRecord[]): AsyncGenerator<number> {
    if (pod.infra && pod.infra.pid > 0) yield pod.infra.pid;
    for (const c of members.filter((m) => m.phase === 'running')) {
      const pid = await readPidFile(containerPidFile(containerRunDir(this.containers.config, c.id)));
      if (pid !== undefined) yield pid;
    }
  }

  private async writableLayer(c: ContainerRecord): Promise<Init<ContainerStats>['writableLayer']> {
    const usage = await dirUsage(join(this.containers.containers.pathOf(c.id), 'upper')).catch(() => undefined);
    if (!usage) return null;
    return {
      timestamp: Date.now() * 1e6,
      fsId: { mountpoint: this.containers.containers.dir },
      usedBytes: { value: usage.bytes },
      inodesUsed: { value: usage.inodes },
    };
  }

  private forget(id: string): void {
    this.cgroups.delete(id);
    this.cpuRates.retain(new Set([...this.containers.containers.list().map((c) => c.id), ...this.pods.sandboxes.list().map((p) => p.id)]));
  }
}

function sumSamples(samples: CgroupSample[]): CgroupSample | undefined {
  if (samples.length === 0) return undefined;
  const sum = (pick: (s: CgroupSample) => number | undefined): number | undefined =>
    samples.some((s) => pick(s) !== undefined) ? samples.reduce((total, s) => total + (pick(s) ?? 0), 0) : undefined;
  const total: CgroupSample = {};
  const cpu = sum((s) => s.cpuUsageNs);
  if (cpu !== undefined) total.cpuUsageNs = cpu;
  if (samples.some((s) => s.memory)) {
    total.memory = {
      usage: sum((s) => s.memory?.usage) ?? 0,
      workingSet: sum((s) => s.memory?.workingSet) ?? 0,
      rss: sum((s) => s.memory?.rss) ?? 0,
      pageFaults: sum((s) => s.memory?.pageFaults) ?? 0,
      majorPageFaults: sum((s) => s.memory?.majorPageFaults) ?? 0,
    };
  }
  const pids = sum((s) => s.pids);
  if (pids !== undefined) total.pids = pids;
  return total;
}

function psiOf(p: PressureStats | undefined): Init<PsiStats> | null {
  if (!p) return null;
  const data = (d: PressureStats['some']) => (d ? { Total: d.total, Avg10: d.avg10, Avg60: d.avg60, Avg300: d.avg300 } : null);
  return { Some: data(p.some), Full: data(p.full) };
}

function interfaceUsage(i: InterfaceCounters): Init<NetworkInterfaceUsage> {
  return { name: i.name, rxBytes: { value: i.rxBytes }, rxErrors: { value: i.rxErrors }, txBytes: { value: i.txBytes }, txErrors: { value: i.txErrors } };
}
