// ListMetricDescriptors / ListPodSandboxMetrics: the kubelet's
// PodAndContainerStatsFromCRI serves /metrics/cadvisor from these, so the
// names, types and labels are cAdvisor's. Values are built from the same
// samples as the *Stats RPCs; the CRI carries unsigned integers, so seconds
// are whole seconds (as CRI-O reports them too).
import type { ContainerRecord } from '../container/containers.js';
import { MetricType, type ContainerStats, type Init, type Metric, type MetricDescriptor, type PodSandboxMetrics, type PodSandboxStats } from '../proto/cri.js';
import type { SandboxRecord } from '../sandbox/pods.js';

/** Every metric is labelled with these first, in this order. */
const baseLabelKeys = ['id', 'image', 'namespace', 'pod', 'container'];

interface Family {
  descriptor: MetricDescriptor;
  type: MetricType;
}

function family(name: string, help: string, type: MetricType, extraLabels: string[] = []): Family {
  return { descriptor: { name, help, labelKeys: [...baseLabelKeys, ...extraLabels] }, type };
}

const cpuUsage = family('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed in seconds.', MetricType.COUNTER, ['cpu']);
const memoryUsage = family('container_memory_usage_bytes', 'Current memory usage in bytes, including all memory regardless of when it was accessed.', MetricType.GAUGE);
const memoryWorkingSet = family('container_memory_working_set_bytes', 'Current working set in bytes.', MetricType.GAUGE);
const memoryRss = family('container_memory_rss', 'Size of RSS in bytes.', MetricType.GAUGE);
const memoryFailures = family('container_memory_failures_total', 'Cumulative count of memory allocation failures.', MetricType.COUNTER, ['failure_type', 'scope']);
const processes = family('container_processes', 'Number of processes running inside the container.', MetricType.GAUGE);
const networkReceiveBytes = family('container_network_receive_bytes_total', 'Cumulative count of bytes received.', MetricType.COUNTER, ['interface']);
const networkReceiveErrors = family('container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving.', MetricType.COUNTER, ['interface']);
const networkTransmitBytes = family('container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted.', MetricType.COUNTER, ['interface']);
const networkTransmitErrors = family('container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting.', MetricType.COUNTER, ['interface']);
const lastSeen = family('container_last_seen', 'Last time a container was seen by the exporter (seconds since the epoch).', MetricType.GAUGE);

const families = [cpuUsage, memoryUsage, memoryWorkingSet, memoryRss, memoryFailures, processes, networkReceiveBytes, networkReceiveErrors, networkTransmitBytes, networkTransmitErrors, lastSeen];

export function metricDescriptors(): MetricDescriptor[] {
  return families.map((f) => ({ ...f.descriptor, labelKeys: [...f.descriptor.labelKeys] }));
}

/** The pod's metrics from its stats: network and processes for the pod (container "POD"), the rest per container. */
export function podMetrics(pod: SandboxRecord, stats: Init<PodSandboxStats>, members: ContainerRecord[], nowNs: number): Init<PodSandboxMetrics> {
  const meta = pod.config.metadata;
  const podLabels = (id: string, image: string, container: string): string[] => [id, image, meta?.namespace ?? '', meta?.name ?? '', container];
  const sample = new Sample(nowNs);
  const podBase = podLabels(pod.id, '', 'POD');
  const network = stats.linux?.network;
  const seen = new Set<string>();
  for (const i of [network?.defaultInterface, ...(network?.interfaces ?? [])]) {
    if (!i?.name || seen.has(i.name)) continue;
    seen.add(i.name);
    sample.add(networkReceiveBytes, podBase, i.rxBytes?.value, [i.name]);
    sample.add(networkReceiveErrors, podBase, i.rxErrors?.value, [i.name]);
    sample.add(networkTransmitBytes, podBase, i.txBytes?.value, [i.name]);
    sample.add(networkTransmitErrors, podBase, i.txErrors?.value, [i.name]);
  }
  sample.add(processes, podBase, stats.linux?.process?.processCount?.value);
  const podSampleMetrics = sample.take();

  const byId = new Map(members.map((c) => [c.id, c]));
  const containerMetrics = (stats.linux?.containers ?? []).flatMap((c) => {
    const id = c?.attributes?.id;
    const record = id ? byId.get(id) : undefined;
    if (!c || !id || !record) return [];
    return [{ containerId: id, metrics: containerSampleMetrics(sample, c, podLabels(id, record.imageRef, record.config.metadata?.name ?? '')) }];
  });
  return { podSandboxId: pod.id, metrics: podSampleMetrics, containerMetrics };
}

function containerSampleMetrics(sample: Sample, c: Init<ContainerStats>, labels: string[]): Init<Metric>[] {
  const ns = c.cpu?.usageCoreNanoSeconds?.value;
  sample.add(cpuUsage, labels, ns === undefined || ns === null ? undefined : Math.floor(ns / 1e9), ['total']);
  const m = c.memory;
  sample.add(memoryUsage, labels, m?.usageBytes?.value);
  sample.add(memoryWorkingSet, labels, m?.workingSetBytes?.value);
  sample.add(memoryRss, labels, m?.rssBytes?.value);
  sample.add(memoryFailures, labels, m?.pageFaults?.value, ['pgfault', 'container']);
  sample.add(memoryFailures, labels, m?.majorPageFaults?.value, ['pgmajfault', 'container']);
  sample.add(lastSeen, labels, Math.floor(sample.nowNs / 1e9));
  return sample.take();
}

/** Metrics gathered for one item; a value the stats do not have is left out rather than reported as 0. */
class Sample {
  private metrics: Init<Metric>[] = [];
  constructor(readonly nowNs: number) {}

  add(f: Family, labels: string[], value: number | null | undefined, extra: string[] = []): void {
    if (value === undefined || value === null || !Number.isFinite(value) || value < 0) return;
    this.metrics.push({ name: f.descriptor.name, timestamp: this.nowNs, metricType: f.type, labelValues: [...labels, ...extra], value: { value } });
  }

  take(): Init<Metric>[] {
    const taken = this.metrics;
    this.metrics = [];
    return taken;
  }
}
