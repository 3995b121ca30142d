// Container and pod stats, and the Stream* lists, against real containers:
// runc under conmon, a CNI bridge, a busybox image from a real registry.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { DaemonClient } from '../../src/cli/daemon_client.js';
import { RuntimeServiceName } from '../../src/proto/cri.js';
import type { ImageDaemon } from '../helpers/image_daemon.js';
import { containerConfig, podConfig, startRuntimeDaemon, type RuntimeDaemon } from '../helpers/runtime_daemon.js';

const MiB = 1024 * 1024;

describe('ContainerStats, PodSandboxStats and their lists on real containers', () => {
  let fx: RuntimeDaemon;
  let daemon: ImageDaemon;
  let podId: string;
  let otherPodId: string;
  let burner: string;
  let writer: string;
  const rt = () => daemon.client.runtime;

  before(async () => {
    fx = await startRuntimeDaemon({ suite: 'stats', bridge: `sks${process.pid % 10000}`, subnet: '10.231.41.0/24' });
    daemon = fx.daemon;
    const pod = podConfig(fx, 'stats-pod');
    podId = (await rt().RunPodSandbox!({ config: pod })).podSandboxId;
    otherPodId = (await rt().RunPodSandbox!({ config: podConfig(fx, 'stats-other') })).podSandboxId;
    // A memory/CPU burner held to a fifth of a core (the machine is shared) and 64 MiB.
    burner = (
      await rt().CreateContainer!({
        podSandboxId: podId,
        config: containerConfig(fx, 'burner', ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=16M'], {
          linux: { resources: { memoryLimitInBytes: 64 * MiB, cpuPeriod: 100000, cpuQuota: 20000 } },
        }),
        sandboxConfig: pod,
      })
    ).containerId;
    writer = (
      await rt().CreateContainer!({
        podSandboxId: podId,
        config: containerConfig(fx, 'writer', ['sh', '-c', 'dd if=/dev/zero of=/tmp/blob bs=1M count=8 && exec sleep 1000']),
        sandboxConfig: pod,
      })
    ).containerId;
  });
  after(async () => {
    await fx?.cleanup();
  });

  it('the writable layer grows when the container writes a file (measured from CREATED)', async () => {
    const before = (await rt().ContainerStats!({ containerId: writer })).stats;
    assert.equal(before.attributes.id, writer);
    const layer0 = before.writableLayer;
    assert.ok(layer0.timestamp > 0);
    assert.equal(layer0.fsId.mountpoint, join(daemon.root, 'containers'));
    await rt().StartContainer!({ containerId: writer });
    await rt().StartContainer!({ containerId: burner });
    let layer = layer0;
    for (let i = 0; i < 100 && layer.usedBytes.value < layer0.usedBytes.value + 8 * MiB; i++) {
      await sleep(100);
      layer = (await rt().ContainerStats!({ containerId: writer })).stats.writableLayer;
    }
    assert.ok(layer.usedBytes.value >= layer0.usedBytes.value + 8 * MiB, `used ${layer0.usedBytes.value} → ${layer.usedBytes.value}`);
    assert.ok(layer.inodesUsed.value > layer0.inodesUsed.value, `inodes ${layer0.inodesUsed.value} → ${layer.inodesUsed.value}`);
  });

  it('CPU usage grows between calls at a rate within the quota; memory within the limit', async () => {
    const first = (await rt().ContainerStats!({ containerId: burner })).stats;
    await sleep(1500);
    const second = (await rt().ContainerStats!({ containerId: burner })).stats;
    assert.ok(second.cpu.timestamp > first.cpu.timestamp);
    assert.ok(second.cpu.usageCoreNanoSeconds.value > first.cpu.usageCoreNanoSeconds.value, 'cpu time grows');
    const rate = second.cpu.usageNanoCores.value;
    assert.ok(rate > 0 && rate < 0.4e9, `usage_nano_cores ${rate} should be > 0 and near the 0.2-core quota`);
    const m = second.memory;
    assert.ok(m.timestamp > 0);
    assert.ok(m.workingSetBytes.value > 0 && m.workingSetBytes.value <= 64 * MiB, `working set ${m.workingSetBytes.value}`);
    assert.ok(m.usageBytes.value >= m.workingSetBytes.value);
    assert.equal(m.availableBytes.value, 64 * MiB - m.workingSetBytes.value);
    // dd's 16 MiB buffer is anonymous memory it keeps touching.
    assert.ok(m.rssBytes.value >= 8 * MiB, `rss ${m.rssBytes.value}`);
    assert.ok(m.pageFaults.value > 0);
    assert.ok(second.swap === null || second.swap.swapUsageBytes.value >= 0);
  });

  it('ListContainerStats filters by id, pod and labels', async () => {
    const ids = async (filter: object) => ((await rt().ListContainerStats!({ filter })).stats as { attributes: { id: string } }[]).map((s) => s.attributes.id).sort();
    assert.deepEqual(await ids({ podSandboxId: podId }), [burner, writer].sort());
    assert.deepEqual(await ids({ id: burner }), [burner]);
    assert.deepEqual(await ids({ id: burner.slice(0, 12) }), [burner]);
    assert.deepEqual(await ids({ labelSelector: { ctr: 'writer' } }), [writer]);
    assert.deepEqual(await ids({ labelSelector: { ctr: 'writer' }, id: burner }), []);
    assert.deepEqual(await ids({ podSandboxId: otherPodId }), []);
    const all = await ids({});
    assert.ok(all.includes(burner) && all.includes(writer));
  });

  it('PodSandboxStats: the pod sums its containers, counts processes, reads eth0 counters', async () => {
    const podIp = (await rt().PodSandboxStatus!({ podSandboxId: podId })).status.network.ip as string;
    const burnerEarlier = (await rt().ContainerStats!({ containerId: burner })).stats.cpu.usageCoreNanoSeconds.value;
    const before = (await rt().PodSandboxStats!({ podSandboxId: podId })).stats;
    // Traffic to the pod: a refused TCP connection still crosses its eth0.
    await new Promise<void>((resolve) => connect({ host: podIp, port: 9, timeout: 2000 }).on('error', () => resolve()).on('timeout', resolve).on('connect', resolve));
    const stats = (await rt().PodSandboxStats!({ podSandboxId: podId })).stats;
    assert.equal(stats.attributes.id, podId);
    assert.equal(stats.attributes.labels.pod, 'stats-pod');
    const linux = stats.linux;
    assert.deepEqual(linux.containers.map((c: { attributes: { id: string } }) => c.attributes.id).sort(), [burner, writer].sort());
    assert.ok(linux.cpu.usageCoreNanoSeconds.value >= burnerEarlier, 'the pod has used at least what its burner had before');
    assert.ok(linux.cpu.usageNanoCores.value > 0);
    assert.ok(linux.memory.workingSetBytes.value > 0);
    assert.ok(linux.process.processCount.value >= 2, `processes ${linux.process.processCount.value}`);
    assert.equal(linux.network.defaultInterface.name, 'eth0');
    assert.ok(linux.network.defaultInterface.rxBytes.value > before.linux.network.defaultInterface.rxBytes.value, 'rx bytes grow with traffic');
    assert.ok(linux.network.timestamp > 0);
  });

  it('ListPodSandboxStats filters by id and labels', async () => {
    const ids = async (filter: object) => ((await rt().ListPodSandboxStats!({ filter })).stats as { attributes: { id: string } }[]).map((s) => s.attributes.id).sort();
    assert.deepEqual(await ids({ id: podId }), [podId]);
    assert.deepEqual(await ids({ labelSelector: { pod: 'stats-other' } }), [otherPodId]);
    assert.deepEqual(await ids({ labelSelector: { suite: 'stats' } }), [podId, otherPodId].sort());
    assert.deepEqual(await ids({ labelSelector: { suite: 'none' } }), []);
    const other = (await rt().ListPodSandboxStats!({ filter: { id: otherPodId } })).stats[0];
    assert.deepEqual(other.linux.containers, []);
  });

  it('missing ids are INVALID_ARGUMENT, unknown ids NOT_FOUND', async () => {
    await assert.rejects(rt().ContainerStats!({}), (e: { code: number; details: string }) => e.code === status.INVALID_ARGUMENT && /container_id/.test(e.details));
    await assert.rejects(rt().ContainerStats!({ containerId: 'f'.repeat(64) }), { code: status.NOT_FOUND });
    await assert.rejects(rt().PodSandboxStats!({}), (e: { code: number; details: string }) => e.code === status.INVALID_ARGUMENT && /pod_sandbox_id/.test(e.details));
    await assert.rejects(rt().PodSandboxStats!({ podSandboxId: 'f'.repeat(64) }), { code: status.NOT_FOUND });
  });

  it('Stream* send what List* returns', async () => {
    const flat = <T>(replies: unknown[], field: string): T[] => replies.flatMap((r) => (r as Record<string, T[]>)[field]!);
    const filter = { podSandboxId: podId };
    const streamedStats = flat<{ attributes: { id: string } }>(await daemon.client.stream('runtime', 'StreamContainerStats', { filter }), 'containerStats');
    assert.deepEqual(streamedStats.map((s) => s.attributes.id).sort(), [burner, writer].sort());
    const streamedPods = flat<{ attributes: { id: string }; linux: { containers: unknown[] } }>(
      await daemon.client.stream('runtime', 'StreamPodSandboxStats', { filter: { labelSelector: { suite: 'stats' } } }),
      'podSandboxStats',
    );
    assert.deepEqual(streamedPods.map((s) => s.attributes.id).sort(), [podId, otherPodId].sort());
    const listed = (await rt().ListContainers!({ filter })).containers as { id: string }[];
    const streamed = flat<{ id: string }>(await daemon.client.stream('runtime', 'StreamContainers', { filter }), 'containers');
    assert.deepEqual(streamed, listed);
    const listedPods = (await rt().ListPodSandbox!({ filter: { labelSelector: { suite: 'stats' } } })).items;
    const streamedSandboxes = flat(await daemon.client.stream('runtime', 'StreamPodSandboxes', { filter: { labelSelector: { suite: 'stats' } } }), 'podSandboxes');
    assert.deepEqual(streamedSandboxes, listedPods);
    assert.deepEqual(await daemon.client.stream('runtime', 'StreamContainers', { filter: { id: 'nosuch' } }), []);
  });

  it('ListMetricDescriptors and ListPodSandboxMetrics: cAdvisor metrics of the pods and their containers', async () => {
    const { descriptors } = await rt().ListMetricDescriptors!({});
    const keys = new Map((descriptors as { name: string; labelKeys: string[] }[]).map((d) => [d.name, d.labelKeys]));
    assert.deepEqual(keys.get('container_cpu_usage_seconds_total'), ['id', 'image', 'namespace', 'pod', 'container', 'cpu']);
    assert.deepEqual(keys.get('container_network_receive_bytes_total'), ['id', 'image', 'namespace', 'pod', 'container', 'interface']);

    type M = { name: string; timestamp: number; metricType: number; labelValues: string[]; value: { value: number } };
    type P = { podSandboxId: string; metrics: M[]; containerMetrics: { containerId: string; metrics: M[] }[] };
    const { podMetrics } = (await rt().ListPodSandboxMetrics!({})) as { podMetrics: P[] };
    assert.deepEqual(podMetrics.map((p) => p.podSandboxId).sort(), [podId, otherPodId].sort());
    const pod = podMetrics.find((p) => p.podSandboxId === podId)!;
    for (const m of [...pod.metrics, ...pod.containerMetrics.flatMap((c) => c.metrics)]) {
      assert.equal(m.labelValues.length, keys.get(m.name)?.length, `${m.name}: one value per label key`);
      assert.ok(m.timestamp > 0);
    }
    assert.deepEqual(pod.containerMetrics.map((c) => c.containerId).sort(), [burner, writer].sort());
    const burnerMetrics = pod.containerMetrics.find((c) => c.containerId === burner)!.metrics;
    const one = (name: string): M => {
      const found = burnerMetrics.filter((m) => m.name === name);
      assert.equal(found.length, 1, name);
      return found[0]!;
    };
    const status = (await rt().ContainerStatus!({ containerId: burner })).status;
    const cpu = one('container_cpu_usage_seconds_total');
    assert.deepEqual(cpu.labelValues, [burner, status.imageRef, 'stats', 'stats-pod', 'burner', 'total']);
    assert.equal(cpu.metricType, 0 /* COUNTER */);
    const stats = (await rt().ContainerStats!({ containerId: burner })).stats;
    assert.ok(Math.abs(cpu.value.value - stats.cpu.usageCoreNanoSeconds.value / 1e9) <= 1, `cpu seconds ${cpu.value.value}`);
    const workingSet = one('container_memory_working_set_bytes');
    assert.equal(workingSet.metricType, 1 /* GAUGE */);
    assert.ok(workingSet.value.value > 0 && workingSet.value.value <= 64 * MiB, `working set ${workingSet.value.value}`);
    // The pod's own: its network interfaces and its processes, as container "POD".
    const rx = pod.metrics.find((m) => m.name === 'container_network_receive_bytes_total' && m.labelValues[5] === 'eth0');
    assert.ok(rx && rx.value.value > 0, 'eth0 received bytes');
    assert.deepEqual(rx.labelValues.slice(0, 5), [podId, '', 'stats', 'stats-pod', 'POD']);
    assert.ok(pod.metrics.some((m) => m.name === 'container_processes' && m.value.value >= 2));

    const streamed = (await daemon.client.stream('runtime', 'StreamPodSandboxMetrics', {})).flatMap((r) => (r as { podSandboxMetrics: P[] }).podSandboxMetrics);
    assert.deepEqual(streamed.map((p) => p.podSandboxId).sort(), [podId, otherPodId].sort());
  });

  it('StreamPodSandboxes splits large lists into messages that each stay far under 16 MiB', async () => {
    // Four host-network pods with 1.5 MiB of annotations each: 6 MiB in all, more than one batch.
    const big = 'x'.repeat(1.5 * MiB);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const config = {
          ...podConfig(fx, `stats-big-${i}`),
          labels: { suite: 'stats-big' },
          annotations: { blob: big },
          linux: { securityContext: { namespaceOptions: { network: 2 } } },
        };
        ids.push((await rt().RunPodSandbox!({ config })).podSandboxId);
      }
      const replies = (await daemon.client.stream('runtime', 'StreamPodSandboxes', { filter: { labelSelector: { suite: 'stats-big' } } })) as { podSandboxes: { id: string }[] }[];
      assert.ok(replies.length >= 2, `${replies.length} message(s)`);
      for (const r of replies) assert.ok(JSON.stringify(r).length <= 4 * MiB);
      assert.deepEqual(replies.flatMap((r) => r.podSandboxes.map((p) => p.id)).sort(), [...ids].sort());
      // ListPodSandbox answers in one 6 MiB reply: fine for the kubelet and crictl, which accept 16 MiB.
      const kubeletLike = new DaemonClient(daemon.socket, { 'grpc.max_receive_message_length': 16 * MiB });
      try {
        const listed = (await kubeletLike.unary(RuntimeServiceName, 'ListPodSandbox', { filter: { labelSelector: { suite: 'stats-big' } } })) as { items: unknown[] };
        assert.equal(listed.items.length, 4);
      } finally {
        kubeletLike.close();
      }
    } finally {
      for (const id of ids) await rt().RemovePodSandbox!({ podSandboxId: id }).catch(() => undefined);
    }
  });

  it('a stopped container still has stats: its layer, no live cgroup values', async () => {
    await rt().StopContainer!({ containerId: burner, timeout: 0 });
    const stats = (await rt().ContainerStats!({ containerId: burner })).stats;
    assert.equal(stats.attributes.id, burner);
    assert.equal(stats.cpu, null);
    assert.equal(stats.memory, null);
    assert.ok(stats.writableLayer.timestamp > 0);
    const pod = (await rt().PodSandboxStats!({ podSandboxId: podId })).stats;
    assert.equal(pod.linux.containers.length, 2);
  });
});
