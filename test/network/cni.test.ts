// CNI with the real plugins (bridge, host-local, portmap, loopback) in real
// network namespaces. Needs root and containernetworking-plugins in /usr/lib/cni.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { CniNetwork, type PodNetworkRequest } from '../../src/network/cni_network.js';
import { scratchDir } from '../helpers/daemon.js';

const run = promisify(execFile);
const pluginDir = '/usr/lib/cni';
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync(join(pluginDir, 'bridge'))
      ? `no CNI plugins in ${pluginDir}`
      : undefined;

async function sh(cmd: string, ...args: string[]): Promise<string> {
  return (await run(cmd, args, { timeout: 10_000 })).stdout;
}
async function succeeds(cmd: string, ...args: string[]): Promise<boolean> {
  return run(cmd, args, { timeout: 10_000 }).then(() => true, () => false);
}

/** Splits an `iptables -S` line into arguments (double quotes with backslash escapes). */
function iptablesArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '"') {
      inWord = true;
      for (i++; i < line.length && line[i] !== '"'; i++) cur += line[i] === '\\' ? line[++i] : line[i];
    } else if (ch === ' ') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

describe('CNI with the real plugins', { skip }, () => {
  const tag = randomBytes(3).toString('hex');
  const octet2 = 200 + randomInt(56);
  const octet3 = randomInt(255);
  const subnet = `10.${octet2}.${octet3}.0/24`;
  const tinySubnet = `10.${octet2}.${octet3 + 1}.0/24`;
  const bridge = `skt${tag}`;
  const tinyBridge = `sku${tag}`;
  const netName = `skiff-test-${tag}`;
  const tinyNetName = `skiff-tiny-${tag}`;
  const hostPort = 18000 + randomInt(1000);
  const ns = { a: `skt-${tag}-a`, b: `skt-${tag}-b`, c: `skt-${tag}-c`, x: `skt-${tag}-x`, y: `skt-${tag}-y`, z: `skt-${tag}-z` };
  const log = pino({ level: 'silent' });
  let dir: string;
  let cleanup: () => Promise<void>;
  let net: CniNetwork;
  let tiny: CniNetwork;
  const servers: ChildProcess[] = [];

  const pod = (name: keyof typeof ns, over: Partial<PodNetworkRequest> = {}): PodNetworkRequest => ({
    podId: `${tag}${name}`.padEnd(64, '0'),
    podName: `pod-${name}`,
    podNamespace: 'skiff-test',
    podUid: `uid-${tag}-${name}`,
    netnsPath: `/run/netns/${ns[name]}`,
    ...over,
  });
  const ipFiles = async (network: string) =>
    (await readdir(join(dir, 'ipam', network)).catch(() => [] as string[])).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  const natRules = () => sh('iptables', '-t', 'nat', '-S');
  /** A TCP server in a netns that sends `text` to every connection; resolves once it listens. */
  const startServer = async (netns: string, port: number, text: string): Promise<ChildProcess> => {
    const script = `require('net').createServer((s) => s.end(${JSON.stringify(text)})).listen(${port}, () => console.log('ready'))`;
    const server = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`server in ${netns} exited with ${code}`)));
    });
    return server;
  };
  const clientScript = (host: string, port: number) =>
    `const s = require('net').connect(${port}, ${JSON.stringify(host)}); s.setTimeout(3000, () => { console.error('timeout'); process.exit(1); }); s.pipe(process.stdout);`;

  before(async () => {
    ({ dir, cleanup } = await scratchDir('skiff-cni-'));
    const conflist = (name: string, br: string, range: Record<string, string>) => ({
      cniVersion: '1.0.0',
      name,
      plugins: [
        {
          type: 'bridge',
          bridge: br,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[range]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'ipam') },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    for (const d of ['conf', 'conf-tiny', 'conf-broken']) await mkdir(join(dir, d));
    await writeFile(join(dir, 'conf', '10-test.conflist'), JSON.stringify(conflist(netName, bridge, { subnet })));
    await writeFile(
      join(dir, 'conf-tiny', '10-tiny.conflist'),
      JSON.stringify(conflist(tinyNetName, tinyBridge, { subnet: tinySubnet, rangeStart: `10.${octet2}.${octet3 + 1}.10`, rangeEnd: `10.${octet2}.${octet3 + 1}.10` })),
    );
    const common = { pluginDirs: [join(dir, 'no-plugins-here'), pluginDir], defaultNetwork: '', log };
    net = new CniNetwork({ ...common, configDir: join(dir, 'conf'), cacheDir: join(dir, 'cache') });
    tiny = new CniNetwork({ ...common, configDir: join(dir, 'conf-tiny'), cacheDir: join(dir, 'cache-tiny') });
    await Promise.all(Object.values(ns).map((n) => sh('ip', 'netns', 'add', n)));
  });

  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    // DEL whatever a failed test left, then remove what only the test made.
    for (const n of [net, tiny]) {
      for (const id of await n.cachedPods().catch(() => [])) await n.tearDown({ podId: id }).catch(() => undefined);
    }
    for (const n of Object.values(ns)) await succeeds('ip', 'netns', 'del', n);
    for (const br of [bridge, tinyBridge]) await succeeds('ip', 'link', 'del', br);
    // Rules a plugin could not remove (bridge leaves its masquerade chain when DEL comes after the netns is gone).
    for (const table of ['nat', 'filter']) {
      const lines = (await sh('iptables', '-t', table, '-S').catch(() => '')).split('\n');
      const ours = lines.filter((l) => l.startsWith('-A ') && [netName, tinyNetName, subnet, tinySubnet, `--dport ${hostPort} `].some((s) => l.includes(s)));
      const chains = new Set<string>();
      for (const l of ours) {
        const args = iptablesArgs(l);
        for (const [i, a] of args.entries()) {
          const chain = args[i + 1];
          if ((a === '-A' || a === '-j') && chain?.startsWith('CNI-') && !chain.startsWith('CNI-HOSTPORT-')) chains.add(chain);
        }
        await succeeds('iptables', '-t', table, '-D', ...args.slice(1));
      }
      for (const c of chains) if (await succeeds('iptables', '-t', table, '-F', c)) await succeeds('iptables', '-t', table, '-X', c);
    }
    await cleanup();
  });

  it('status is ready for the network in the config dir', async () => {
    assert.deepEqual(await net.status(), { ready: true, network: netName, file: join(dir, 'conf', '10-test.conflist') });
  });

  it('two pods get distinct IPs, reach each other, and have lo up', async () => {
    const [a, b] = await Promise.all([net.setUp(pod('a')), net.setUp(pod('b'))]);
    const prefix = `10.${octet2}.${octet3}.`;
    for (const s of [a, b]) {
      assert.equal(s.ips.length, 1);
      assert.ok(s.ips[0]!.startsWith(prefix), `${s.ips[0]} in ${subnet}`);
      assert.equal(s.gateway, `${prefix}1`);
      assert.equal(s.ifName, 'eth0');
    }
    assert.notEqual(a.ips[0], b.ips[0]);
    assert.deepEqual((await ipFiles(netName)).sort(), [a.ips[0], b.ips[0]].sort());

    // Pod to pod over the bridge (TCP with node: this host has no ping).
    await startServer(ns.b, 8080, 'hello from b');
    assert.equal(await sh('ip', 'netns', 'exec', ns.a, process.execPath, '-e', clientScript(b.ips[0]!, 8080)), 'hello from b');
    const lo = await sh('ip', '-n', ns.a, '-o', 'link', 'show', 'lo');
    assert.match(lo, /<[^>]*\bUP\b[^>]*>/, lo);
    const eth0 = await sh('ip', '-n', ns.a, '-o', '-4', 'addr', 'show', 'eth0');
    assert.ok(eth0.includes(`${a.ips[0]}/24`), eth0);

    assert.equal(await net.check({ podId: pod('a').podId }), true);
    assert.deepEqual(await net.cachedStatus(pod('b').podId), b);
  });

  it('a hostPort mapping is a DNAT rule that carries connections, gone after tearDown', async () => {
    const c = await net.setUp(pod('c', { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] }));
    const podIp = c.ips[0]!;
    const rules = await natRules();
    assert.ok(rules.includes('-N CNI-HOSTPORT-DNAT'), rules);
    assert.ok(rules.split('\n').some((l) => l.includes(`--dport ${hostPort} `) && l.includes(`-j DNAT --to-destination ${podIp}:80`)), rules);

    const server = await startServer(ns.c, 80, 'hello from the pod');
    // Through the host-side address of the bridge: DNAT in OUTPUT, then into the pod.
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect({ host: c.gateway!, port: hostPort });
      let data = '';
      sock.setTimeout(5000, () => sock.destroy(new Error('no answer through the host port')));
      sock.on('data', (d) => (data += d.toString()));
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
    });
    assert.equal(reply, 'hello from the pod');
    server.kill('SIGKILL');

    await net.tearDown({ podId: pod('c').podId });
    assert.ok(!(await natRules()).includes(`--dport ${hostPort} `), 'DNAT rule removed');
    assert.ok(!(await ipFiles(netName)).includes(podIp), 'IP released');
  });

  it('tearDown releases the IP, is idempotent, and works from the cache after the config changed', async () => {
    const a = (await net.cachedStatus(pod('a').podId))!;
    const b = (await net.cachedStatus(pod('b').podId))!;
    // The config file is deleted: DEL runs from the cache, in a daemon that never saw the ADD.
    await rm(join(dir, 'conf', '10-test.conflist'));
    const restarted = new CniNetwork({ configDir: join(dir, 'conf'), pluginDirs: [pluginDir], defaultNetwork: '', cacheDir: join(dir, 'cache'), log });
    assert.equal((await restarted.status()).ready, false);
    await restarted.tearDown({ podId: pod('a').podId });
    assert.deepEqual(await ipFiles(netName), [b.ips[0]]);
    assert.equal(await succeeds('ip', '-n', ns.a, 'link', 'show', 'eth0'), false, 'eth0 removed from the pod');
    assert.ok(!(await natRules()).includes(`-s ${a.ips[0]}/32 `), 'masquerade rule of the pod removed');
    await restarted.tearDown({ podId: pod('a').podId });
    await restarted.tearDown({ podId: 'f'.repeat(64) });
    assert.equal(await restarted.cachedStatus(pod('a').podId), undefined);

    // The namespace is gone: DEL still runs, with CNI_NETNS empty, and host-local releases the IP.
    await sh('ip', 'netns', 'del', ns.b);
    await restarted.tearDown({ podId: pod('b').podId });
    assert.deepEqual(await ipFiles(netName), []);
    assert.ok(!a.ips.includes(b.ips[0]!));
  });

  it('a failed ADD is rolled back: no veth, no IP, no cache entry', async () => {
    const x = await tiny.setUp(pod('x'));
    assert.deepEqual(x.ips, [`10.${octet2}.${octet3 + 1}.10`]);
    // The range holds one address: the bridge plugin creates the veth, then IPAM fails.
    await assert.rejects(tiny.setUp(pod('y')), (err: Error) => {
      assert.match(err.message, /CNI plugin "bridge" ADD failed with code \d+.*: .*no IP addresses available/);
      return true;
    });
    assert.equal(await succeeds('ip', '-n', ns.y, 'link', 'show', 'eth0'), false, 'the pod side of the veth is gone');
    const ports = (await sh('ip', '-o', 'link', 'show', 'master', tinyBridge)).trim().split('\n').filter(Boolean);
    assert.equal(ports.length, 1, `only x's veth on the bridge:\n${ports.join('\n')}`);
    assert.deepEqual(await ipFiles(tinyNetName), [x.ips[0]]);
    assert.deepEqual(await tiny.cachedPods(), [pod('x').podId]);

    // A chain naming a plugin that is not installed fails before touching the pod.
    await writeFile(join(dir, 'conf-broken', '10-broken.conflist'), JSON.stringify({
      cniVersion: '1.0.0', name: `skiff-broken-${tag}`,
      plugins: [{ type: 'bridge', bridge: tinyBridge, ipam: { type: 'host-local', subnet: tinySubnet, dataDir: join(dir, 'ipam') } }, { type: 'no-such-plugin' }],
    }));
    const broken = new CniNetwork({ configDir: join(dir, 'conf-broken'), pluginDirs: [pluginDir], defaultNetwork: '', cacheDir: join(dir, 'cache-broken'), log });
    await assert.rejects(broken.setUp(pod('z')), new RegExp(`CNI plugin "no-such-plugin" not found in ${pluginDir}`));
    assert.equal(await succeeds('ip', '-n', ns.z, 'link', 'show', 'eth0'), false);

    await tiny.tearDown({ podId: pod('x').podId });
    assert.deepEqual(await ipFiles(tinyNetName), []);
  });
});
