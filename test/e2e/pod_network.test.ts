// Pods on a real CNI bridge, observed from inside their containers: pod to
// pod traffic, a hostPort from the host's own address, the DNS config and
// hostname the container sees, the host network, and a RunPodSandbox whose
// CNI chain fails half-way leaving nothing behind.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { containerConfig, e2eProblem, iptablesRulesMentioning, podConfig, run, runPod, runToExit, startContainer, startE2e, State, waitState, type E2e } from './fixtures.js';

const skip = await e2eProblem();

/** The address the host reaches the outside with (what a node's hostPort clients connect to). */
async function hostAddress(): Promise<string> {
  const { stdout } = await run('ip', ['-o', '-4', 'route', 'get', '1.1.1.1']).catch(() => ({ stdout: '' }));
  const src = /\bsrc (\d+\.\d+\.\d+\.\d+)/.exec(stdout)?.[1];
  if (src) return src;
  const { stdout: addrs } = await run('ip', ['-o', '-4', 'addr', 'show', 'scope', 'global']);
  const first = /inet (\d+\.\d+\.\d+\.\d+)/.exec(addrs)?.[1];
  if (!first) throw new Error('this host has no global IPv4 address');
  return first;
}

/** GET http://host:port/path, retried until the server answers or the deadline passes. */
async function httpGet(host: string, port: number, path: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const req = request({ host, port, path, timeout: 2000 }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

const mountsUnder = async (dir: string) => (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(dir));
const listDir = (dir: string) => readdir(dir).catch(() => [] as string[]);

describe('e2e: pod networking through the CRI', { skip, timeout: 150_000 }, () => {
  let e2e: E2e;

  before(async () => {
    e2e = await startE2e({ slot: 1 });
  });
  after(async () => {
    await e2e?.cleanup();
  });

  const podIp = async (id: string): Promise<string> => (await e2e.daemon.client.runtime.PodSandboxStatus!({ podSandboxId: id })).status.network.ip;

  describe('pods side by side', { concurrency: true }, () => {
    it('two pods get distinct IPs and reach each other; the container sees the pod\'s DNS config and hostname', async () => {
      const dns = { servers: ['10.96.0.10', '10.96.0.11'], searches: ['e2e.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5', 'timeout:2'] };
      const [a, b] = await Promise.all([runPod(e2e, podConfig(e2e, 'net-a', { dnsConfig: dns, hostname: 'alpha-host' })), runPod(e2e, podConfig(e2e, 'net-b'))]);
      const [ipA, ipB] = await Promise.all([podIp(a.id), podIp(b.id)]);
      const prefix = e2e.subnet.replace(/0\/24$/, '');
      assert.ok(ipA.startsWith(prefix) && ipB.startsWith(prefix), `${ipA} and ${ipB} in ${e2e.subnet}`);
      assert.notEqual(ipA, ipB);

      await startContainer(e2e, a, containerConfig(e2e, 'server', ['httpd', '-f', '-p', '8080', '-h', '/www']));
      const [client, files] = await Promise.all([
        // The server may not listen yet: the client retries, then prints the body it got and its own address.
        // (busybox nc: the static busybox's wget needs NSS libraries the image lacks.)
        runToExit(e2e, b, containerConfig(e2e, 'client', ['sh', '-c', `for i in $(seq 100); do out=$(printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${ipA} 8080) && [ -n "$out" ] && echo "$out" | tail -n 1 && ip -o -4 addr show eth0 && exit 0; sleep 0.1; done; exit 1`])),
        runToExit(e2e, a, containerConfig(e2e, 'files', ['sh', '-c', 'cat /etc/resolv.conf; echo "hostname=$(hostname)"; grep alpha-host /etc/hosts'])),
      ]);
      assert.equal(client.status.exitCode, 0, client.raw);
      assert.equal(client.stdout[0], 'hello from the pod');
      assert.match(client.stdout[1] ?? '', new RegExp(`inet ${ipB.replace(/\./g, '\\.')}/24`), 'the client ran in pod B\'s network');
      assert.equal(files.status.exitCode, 0, files.raw);
      assert.deepEqual(files.stdout, [
        'search e2e.svc.cluster.local svc.cluster.local',
        'nameserver 10.96.0.10',
        'nameserver 10.96.0.11',
        'options ndots:5 timeout:2',
        'hostname=alpha-host',
        `${ipA}\talpha-host`,
      ]);

      await Promise.all([a, b].map((p) => e2e.daemon.client.runtime.RemovePodSandbox!({ podSandboxId: p.id })));
      assert.deepEqual(await iptablesRulesMentioning(`${ipA}/32`, `${ipB}/32`, a.id, b.id), [], 'the pods\' masquerade rules are gone');
    });

    it('a hostPort reaches the container\'s port from the host\'s address', async () => {
      const hostPort = 20000 + randomInt(10000);
      const pod = await runPod(e2e, podConfig(e2e, 'net-port', { portMappings: [{ protocol: 0, containerPort: 80, hostPort }] }));
      const ip = await podIp(pod.id);
      const id = await startContainer(e2e, pod, containerConfig(e2e, 'web', ['httpd', '-f', '-p', '80', '-h', '/www']));
      const host = await hostAddress();
      assert.equal(await httpGet(host, hostPort, '/index.html'), 'hello from the pod\n');
      assert.equal((await waitState(e2e, id, State.running)).state, State.running);
      assert.notDeepEqual(await iptablesRulesMentioning(`--dport ${hostPort} `), []);

      await e2e.daemon.client.runtime.StopPodSandbox!({ podSandboxId: pod.id });
      assert.deepEqual(await iptablesRulesMentioning(`--dport ${hostPort} `, `${ip}/32`, pod.id), [], 'the DNAT and masquerade rules are gone after stop');
      await e2e.daemon.client.runtime.RemovePodSandbox!({ podSandboxId: pod.id });
    });

    it('a host-network pod sees the host\'s interfaces; a pod-network one does not', async () => {
      const [hostPod, netPod] = await Promise.all([
        runPod(e2e, podConfig(e2e, 'hostnet', {}, { securityContext: { namespaceOptions: { network: 2, pid: 1, ipc: 0 } } })),
        runPod(e2e, podConfig(e2e, 'podnet')),
      ]);
      // The pod-network pod made sure the test bridge exists: a host interface no pod has.
      const hostIfaces = await readdir('/sys/class/net');
      assert.ok(hostIfaces.includes(e2e.bridge), `the test bridge ${e2e.bridge} is a host interface`);
      const netdev = ['sh', '-c', 'cat /proc/net/dev'];
      const [onHost, inPod] = await Promise.all([runToExit(e2e, hostPod, containerConfig(e2e, 'netdev', netdev)), runToExit(e2e, netPod, containerConfig(e2e, 'netdev', netdev))]);
      const names = (o: { stdout: string[] }) => o.stdout.map((l) => /^\s*([^:\s]+):/.exec(l)?.[1]).filter((n): n is string => n !== undefined);
      // Other tests add and remove interfaces meanwhile: compare the ones that stay.
      const uplink = /\bdev (\S+)/.exec((await run('ip', ['-o', 'route', 'get', '1.1.1.1']).catch(() => ({ stdout: '' }))).stdout)?.[1];
      for (const n of [e2e.bridge, 'lo', ...(uplink ? [uplink] : [])]) {
        assert.ok(names(onHost).includes(n), `host network lists ${n}: ${names(onHost).join(' ')}`);
      }
      assert.deepEqual(names(inPod).sort(), ['eth0', 'lo']);
      await Promise.all([hostPod, netPod].map((p) => e2e.daemon.client.runtime.RemovePodSandbox!({ podSandboxId: p.id })));
    });
  });

  it('a CNI chain failing after bridge and portmap ran leaves no IP, rule, veth, pin, mount or directory', async () => {
    const d = e2e.daemon;
    const brokenNet = `skiff-e2e-broken-${process.pid}`;
    const hostPort = 30000 + randomInt(10000);
    const brokenConf = join(d.dir, 'cni', '00-broken.conflist');
    // tuning runs last and fails on a sysctl that does not exist, after bridge allocated an IP and portmap added its DNAT.
    await writeFile(
      brokenConf,
      JSON.stringify({
        cniVersion: '1.0.0',
        name: brokenNet,
        plugins: [
          { type: 'bridge', bridge: e2e.bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: e2e.subnet }]], dataDir: join(d.dir, 'ipam') } },
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
          { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.no_such_setting': '1' } },
        ],
      }),
    );
    try {
      const before = {
        veths: (await run('ip', ['-o', 'link', 'show', 'master', e2e.bridge])).stdout,
        runSandboxes: await listDir(join(d.dir, 'run', 'sandboxes')),
        rootSandboxes: await listDir(join(d.dir, 'root', 'sandboxes')),
        cniCache: await listDir(join(d.dir, 'root', 'cni-cache')),
        mounts: await mountsUnder(d.dir),
      };
      await assert.rejects(
        d.client.runtime.RunPodSandbox!({ config: podConfig(e2e, 'broken', { portMappings: [{ protocol: 0, containerPort: 80, hostPort }] }) }),
        (err: { details: string }) => {
          assert.match(err.details, /tuning/);
          return true;
        },
      );
      assert.deepEqual((await listDir(join(d.dir, 'ipam', brokenNet))).filter((f) => /^\d+\./.test(f)), [], 'IP released');
      assert.deepEqual(await iptablesRulesMentioning(`--dport ${hostPort} `, brokenNet), [], 'no DNAT or masquerade rule left');
      assert.equal((await run('ip', ['-o', 'link', 'show', 'master', e2e.bridge])).stdout, before.veths, 'no veth left on the bridge');
      assert.deepEqual(await listDir(join(d.dir, 'run', 'sandboxes')), before.runSandboxes);
      assert.deepEqual(await listDir(join(d.dir, 'root', 'sandboxes')), before.rootSandboxes);
      assert.deepEqual(await listDir(join(d.dir, 'root', 'cni-cache')), before.cniCache);
      assert.deepEqual(await mountsUnder(d.dir), before.mounts, 'no namespace pin or shm left mounted');
      assert.deepEqual((await d.client.runtime.ListPodSandbox!({ filter: { labelSelector: { pod: 'broken' } } })).items, []);
    } finally {
      await rm(brokenConf, { force: true });
    }
    // With the broken config gone, pods run again on the good network.
    const pod = await runPod(e2e, podConfig(e2e, 'broken'));
    await e2e.daemon.client.runtime.RemovePodSandbox!({ podSandboxId: pod.id });
  });
});
