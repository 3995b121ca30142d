// The mapping from the *Stats values to cAdvisor-named CRI metrics, on fixed stats.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerRecord } from '../../src/container/containers.js';
import { metricDescriptors, podMetrics } from '../../src/metrics/pod_metrics.js';
import type { SandboxRecord } from '../../src/sandbox/pods.js';

const pod = { id: 'p1', config: { metadata: { name: 'web', namespace: 'shop', uid: 'u', attempt: 0 } } } as unknown as SandboxRecord;
const container = { id: 'c1', imageRef: 'registry/app@sha256:ab', config: { metadata: { name: 'app' } } } as unknown as ContainerRecord;
const now = 1_700_000_000_123_000_000;

test('container metrics: whole cpu seconds, memory gauges, page faults by type; pod network per interface and processes', () => {
  const got = podMetrics(
    pod,
    {
      linux: {
        network: {
          defaultInterface: { name: 'eth0', rxBytes: { value: 100 }, rxErrors: { value: 0 }, txBytes: { value: 50 }, txErrors: { value: 1 } },
          interfaces: [{ name: 'net1', rxBytes: { value: 7 }, rxErrors: null, txBytes: null, txErrors: null }],
        },
        process: { processCount: { value: 3 } },
        containers: [
          {
            attributes: { id: 'c1' },
            cpu: { usageCoreNanoSeconds: { value: 2_999_999_999 } },
            memory: { usageBytes: { value: 4096 }, workingSetBytes: { value: 2048 }, rssBytes: { value: 1024 }, pageFaults: { value: 10 }, majorPageFaults: { value: 2 } },
          },
          // Not a member any more (removed meanwhile): left out.
          { attributes: { id: 'gone' }, cpu: { usageCoreNanoSeconds: { value: 1e9 } } },
        ],
      },
    },
    [container],
    now,
  );
  const values = (ms: { name: string; labelValues: string[]; value: { value: number } | null }[] | null | undefined) =>
    (ms ?? []).map((m) => [m.name, m.labelValues.join(','), m.value?.value]);
  assert.equal(got.podSandboxId, 'p1');
  const podBase = 'p1,,shop,web,POD';
  assert.deepEqual(values(got.metrics as never), [
    ['container_network_receive_bytes_total', `${podBase},eth0`, 100],
    ['container_network_receive_errors_total', `${podBase},eth0`, 0],
    ['container_network_transmit_bytes_total', `${podBase},eth0`, 50],
    ['container_network_transmit_errors_total', `${podBase},eth0`, 1],
    ['container_network_receive_bytes_total', `${podBase},net1`, 7],
    ['container_processes', podBase, 3],
  ]);
  assert.equal(got.containerMetrics?.length, 1);
  const base = 'c1,registry/app@sha256:ab,shop,web,app';
  assert.deepEqual(values(got.containerMetrics![0]!.metrics as never), [
    ['container_cpu_usage_seconds_total', `${base},total`, 2],
    ['container_memory_usage_bytes', base, 4096],
    ['container_memory_working_set_bytes', base, 2048],
    ['container_memory_rss', base, 1024],
    ['container_memory_failures_total', `${base},pgfault,container`, 10],
    ['container_memory_failures_total', `${base},pgmajfault,container`, 2],
    ['container_last_seen', base, 1_700_000_000],
  ]);
  assert.ok(got.containerMetrics![0]!.metrics!.every((m) => m!.timestamp === now));
});

test('a container with no live values (exited) reports only when it was last seen', () => {
  const got = podMetrics(pod, { linux: { containers: [{ attributes: { id: 'c1' }, cpu: null, memory: null }] } }, [container], now);
  assert.deepEqual(got.metrics, []);
  assert.deepEqual(got.containerMetrics![0]!.metrics!.map((m) => m!.name), ['container_last_seen']);
});

test('every descriptor starts with the same label keys; names are unique', () => {
  const descriptors = metricDescriptors();
  assert.ok(descriptors.every((d) => d.labelKeys.slice(0, 5).join() === 'id,image,namespace,pod,container'));
  assert.equal(new Set(descriptors.map((d) => d.name)).size, descriptors.length);
});
