// The CNI execution protocol against scripted fake plugins: what each plugin
// gets on stdin and in its environment, in which order, and what skiff does
// with their results and errors. No root needed.
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { CniNetwork, InvalidNetworkRequestError, ipsFromResult, type PodNetworkRequest } from '../../src/network/cni_network.js';
import { scratchDir } from '../helpers/daemon.js';

// Logs every call as a JSON line, then answers as the ctl files say:
// ctl/TYPE.CMD.sleep (seconds), ctl/TYPE.CMD.out (stdout), ctl/TYPE.CMD.rc (exit status).
// Without an .out file, ADD prints a result naming the plugin in "note".
const fakePlugin = `#!/bin/sh
t=$(basename "$0")
ctl="$(dirname "$0")/../ctl"
in=$(cat)
printf '{"type":"%s","bin":"%s","cmd":"%s","cid":"%s","netns":"%s","ifname":"%s","args":"%s","path":"%s","stdin":%s}\\n' \\
  "$t" "$0" "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "\${in:-null}" >> "$ctl/../log"
f="$ctl/$t.$CNI_COMMAND"
[ -f "$f.sleep" ] && sleep "$(cat "$f.sleep")"
if [ -f "$f.out" ]; then cat "$f.out"
elif [ "$CNI_COMMAND" = ADD ]; then
  printf '{"cniVersion":"1.0.0","note":"%s","interfaces":[{"name":"cni0"},{"name":"%s","mac":"aa:bb:cc:dd:ee:ff","sandbox":"%s"}],"ips":[{"address":"10.99.0.1/24","interface":0},{"address":"fd00::7/64","gateway":"fd00::1","interface":1},{"address":"10.99.0.7/24","gateway":"10.99.0.1","interface":1}]}' "$t" "$CNI_IFNAME" "$CNI_NETNS"
fi
[ -f "$f.rc" ] && exit "$(cat "$f.rc")"
exit 0
`;

interface Call {
  type: string;
  bin: string;
  cmd: string;
  cid: string;
  netns: string;
  ifname: string;
  args: string;
  path: string;
  stdin: Record<string, unknown> & { prevResult?: { note?: string }; runtimeConfig?: Record<string, unknown> };
}

const podId = (n: number) => n.toString(16).padStart(64, 'a');
const hostNetns = `/proc/${process.pid}/ns/net`;

describe('CNI protocol (fake plugins)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let conf: string;
  let bin: string;
  let bin2: string;
  let ctl: string;
  let cacheDir: string;
  const log = pino({ level: 'silent' });

  const calls = async (): Promise<Call[]> => {
    const text = await readFile(join(dir, 'log'), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Call);
  };
  const ctlFile = (name: string, text: string) => writeFile(join(ctl, name), text);
  const network = (over: Partial<ConstructorParameters<typeof CniNetwork>[0]> = {}) =>
    new CniNetwork({ configDir: conf, pluginDirs: [bin, bin2], defaultNetwork: '', cacheDir, log, ...over });
  const chain = (cniVersion: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      cniVersion,
      name: 'fakenet',
      ...extra,
      plugins: [
        { type: 'first', cniVersion: '0.0.0', name: 'ignored', capabilities: { portMappings: true, dns: false }, own: 1 },
        { type: 'second', capabilities: { bandwidth: true, ips: true } },
      ],
    });
  const request = (n: number, over: Partial<PodNetworkRequest> = {}): PodNetworkRequest => ({
    podId: podId(n),
    podName: `pod-${n}`,
    podNamespace: 'default',
    podUid: `uid-${n}`,
    netnsPath: hostNetns,
    ...over,
  });

  before(async () => {
    ({ dir, cleanup } = await scratchDir('skiff-cni-proto-'));
    conf = join(dir, 'conf');
    bin = join(dir, 'bin');
    bin2 = join(dir, 'bin2');
    ctl = join(dir, 'ctl');
    cacheDir = join(dir, 'cache');
    for (const d of [bin, bin2]) await mkdir(d);
    for (const [d, type] of [[bin, 'loopback'], [bin, 'first'], [bin, 'second'], [bin2, 'second'], [bin2, 'third']] as const) {
      await writeFile(join(d, type), fakePlugin);
      await chmod(join(d, type), 0o755);
    }
  });
  after(() => cleanup());
  beforeEach(async () => {
    await rm(ctl, { recursive: true, force: true });
    await rm(join(dir, 'log'), { force: true });
    await rm(cacheDir, { recursive: true, force: true });
    await rm(conf, { recursive: true, force: true });
    await mkdir(ctl);
    await mkdir(conf);
    await writeFile(join(conf, '10-fake.conflist'), chain('1.0.0'));
  });

  it('ADD: loopback, then the chain in order with name, cniVersion, capabilities and prevResult', async () => {
    const net = network();
    const status = await net.setUp(
      request(1, {
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
          { hostPort: 0, containerPort: 81, protocol: 'tcp' }, // no host port: not a mapping
        ],
        bandwidth: { ingressRate: 1000, egressBurst: 50 },
        ips: ['10.99.0.7/24'],
        dns: { servers: ['10.0.0.10'] },
      }),
    );
    const [lo, first, second, ...rest] = await calls();
    assert.equal(rest.length, 0);
    assert.deepEqual([lo?.type, first?.type, second?.type], ['loopback', 'first', 'second']);
    assert.ok(lo && first && second);
    assert.equal(lo.ifname, 'lo');
    assert.equal(lo.stdin.type, 'loopback');
    for (const c of [lo, first, second]) {
      assert.equal(c.cmd, 'ADD');
      assert.equal(c.cid, podId(1));
      assert.equal(c.netns, hostNetns);
      assert.equal(c.path, `${bin}:${bin2}`);
      assert.equal(c.args, `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-1;K8S_POD_INFRA_CONTAINER_ID=${podId(1)};K8S_POD_UID=uid-1`);
    }
    assert.equal(first.ifname, 'eth0');
    // The list's name and version replace the plugin's own; its other keys pass through.
    assert.equal(first.stdin.name, 'fakenet');
    assert.equal(first.stdin.cniVersion, '1.0.0');
    assert.equal(first.stdin.own, 1);
    assert.equal(first.stdin.prevResult, undefined, 'the first plugin gets no prevResult');
    // Only the capabilities each plugin declares (dns is declared false).
    assert.deepEqual(first.stdin.runtimeConfig, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
    assert.deepEqual(second.stdin.runtimeConfig, { bandwidth: { ingressRate: 1000, egressBurst: 50 }, ips: ['10.99.0.7/24'] });
    assert.equal(second.stdin.prevResult?.note, 'first');

    assert.equal((status.result as { note: string }).note, 'second');
    assert.deepEqual(status.ips, ['10.99.0.7', 'fd00::7'], 'sandbox IPs only, IPv4 first');
    assert.equal(status.gateway, '10.99.0.1');
    assert.equal(status.network, 'fakenet');
    assert.deepEqual(status.interfaces[1], { name: 'eth0', mac: 'aa:bb:cc:dd:ee:ff', sandbox: hostNetns });

    const st = await stat(join(cacheDir, `${podId(1)}.json`));
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(await net.cachedStatus(podId(1)), status);
    assert.deepEqual(await network().cachedPods(), [podId(1)]);
  });

  it('DEL: reverse order, cached config, runtimeConfig and result, even after the config changed', async () => {
    const net = network();
    const added = await net.setUp(request(2, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }));
    // The admin replaces the network: DEL must still use what ADD used.
    await rm(join(conf, '10-fake.conflist'));
    await writeFile(join(conf, '20-other.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'third' }] }));
    await rm(join(dir, 'log'));

    await network().tearDown({ podId: podId(2) }); // a new instance: as after a daemon restart
    const dels = await calls();
    assert.deepEqual(dels.map((c) => `${c.cmd} ${c.type}`), ['DEL second', 'DEL first'], 'loopback is not torn down: the netns goes away');
    for (const c of dels) {
      assert.equal(c.stdin.name, 'fakenet');
      assert.deepEqual(c.stdin.prevResult, added.result);
      assert.equal(c.netns, hostNetns);
      assert.match(c.args, /K8S_POD_NAME=pod-2;/);
    }
    assert.deepEqual(dels[1]?.stdin.runtimeConfig, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
    assert.equal(await net.cachedStatus(podId(2)), undefined);

    await rm(join(dir, 'log'));
    await net.tearDown({ podId: podId(2) }); // twice
    await net.tearDown({ podId: podId(99) }); // never set up
    assert.deepEqual(await calls(), []);
  });

  it('DEL of a pod whose namespace is gone runs the plugins with CNI_NETNS empty', async () => {
    const net = network();
    await net.setUp(request(3));
    await writeFile(join(dir, 'not-a-netns'), '');
    await rm(join(dir, 'log'));
    await net.tearDown({ podId: podId(3), netnsPath: join(dir, 'not-a-netns') });
    const dels = await calls();
    assert.equal(dels.length, 2);
    for (const c of dels) assert.equal(c.netns, '');
  });

  it('a plugin error names the plugin, command, code and msg; the ADD is rolled back', async () => {
    await ctlFile('second.ADD.out', JSON.stringify({ cniVersion: '1.0.0', code: 7, msg: 'bad bridge', details: 'bridge "x" is not a bridge' }));
    await ctlFile('second.ADD.rc', '1');
    const net = network();
    await assert.rejects(net.setUp(request(4)), (err: Error & { code?: number; pluginType?: string }) => {
      assert.match(err.message, /CNI plugin "second" ADD failed with code 7 \(invalid network config\): bad bridge: bridge "x" is not a bridge/);
      assert.equal(err.code, 7);
      assert.equal(err.pluginType, 'second');
      return true;
    });
    const seq = (await calls()).map((c) => `${c.cmd} ${c.type}`);
    assert.deepEqual(seq, ['ADD loopback', 'ADD first', 'ADD second', 'DEL second', 'DEL first']);
    assert.deepEqual(await net.cachedPods(), [], 'a rolled-back ADD leaves no cache entry');
  });

  it('a rollback that fails too is recorded, reported, and finished by tearDown', async () => {
    await ctlFile('second.ADD.rc', '1');
    await ctlFile('first.DEL.out', JSON.stringify({ code: 11, msg: 'busy' }));
    await ctlFile('first.DEL.rc', '1');
    const net = network();
    await assert.rejects(net.setUp(request(5)), /"second" ADD exited with status 1.*rolling back with DEL failed too \(CNI plugin "first" DEL failed with code 11 \(try again later\): busy\)/);
    assert.deepEqual(await net.cachedPods(), [podId(5)]);
    assert.equal(await net.cachedStatus(podId(5)), undefined, 'not a usable attachment');
    await assert.rejects(net.tearDown({ podId: podId(5) }), /"first" DEL failed with code 11/);
    await rm(join(ctl, 'first.DEL.rc'));
    await rm(join(dir, 'log'));
    await net.tearDown({ podId: podId(5) });
    const dels = await calls();
    assert.deepEqual(dels.map((c) => `${c.cmd} ${c.type}`), ['DEL second', 'DEL first']);
    assert.equal(dels[0]?.stdin.prevResult, undefined, 'no final result to give');
    assert.deepEqual(await net.cachedPods(), []);
  });

  it('a missing plugin fails before anything runs, naming the type and the dirs', async () => {
    await writeFile(join(conf, '10-fake.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'fakenet', plugins: [{ type: 'first' }, { type: 'nope' }] }));
    const net = network();
    await assert.rejects(net.setUp(request(6)), new RegExp(`CNI plugin "nope" not found in ${bin}, ${bin2}`));
    assert.deepEqual(await calls(), []);
    assert.deepEqual(await net.cachedPods(), []);
    const status = await net.status();
    assert.equal(status.ready, false);
    assert.match(status.ready ? '' : status.reason, /network "fakenet" from .*10-fake\.conflist: CNI plugin "nope" not found/);
  });

  it('plugins are looked up in the plugin dirs in order', async () => {
    await writeFile(join(conf, '10-fake.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'fakenet', plugins: [{ type: 'second' }, { type: 'third' }] }));
    await network().setUp(request(7));
    const bins = (await calls()).map((c) => c.bin);
    assert.deepEqual(bins, [join(bin, 'loopback'), join(bin, 'second'), join(bin2, 'third')]);
  });

  it('a plugin past its deadline is killed, and the ADD rolled back', async () => {
    await ctlFile('second.ADD.sleep', '10');
    const net = network({ pluginTimeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(net.setUp(request(8)), /CNI plugin "second" ADD timed out after 0\.3s and was killed/);
    assert.ok(Date.now() - started < 3000);
    assert.deepEqual((await calls()).map((c) => `${c.cmd} ${c.type}`).slice(-2), ['DEL second', 'DEL first']);
  });

  it('a plugin that fails without error JSON is reported with its stderr', async () => {
    await ctlFile('first.ADD.out', 'panic: something broke\n');
    await ctlFile('first.ADD.rc', '2');
    await assert.rejects(network().setUp(request(9)), /CNI plugin "first" ADD exited with status 2: panic: something broke/);
  });

  it('CHECK runs the chain in order with the cached result, from cniVersion 0.4.0 and unless disabled', async () => {
    const net = network();
    const added = await net.setUp(request(10));
    await rm(join(dir, 'log'));
    assert.equal(await net.check({ podId: podId(10) }), true);
    const checks = await calls();
    assert.deepEqual(checks.map((c) => `${c.cmd} ${c.type}`), ['CHECK first', 'CHECK second']);
    for (const c of checks) assert.deepEqual(c.stdin.prevResult, added.result);
    await net.tearDown({ podId: podId(10) });

    for (const [version, extra] of [['0.3.1', {}], ['1.0.0', { disableCheck: true }]] as const) {
      await writeFile(join(conf, '10-fake.conflist'), chain(version, extra));
      await net.setUp(request(11));
      await rm(join(dir, 'log'));
      assert.equal(await net.check({ podId: podId(11) }), false, `${version} ${JSON.stringify(extra)}`);
      assert.deepEqual(await calls(), []);
      await net.tearDown({ podId: podId(11) });
    }
    await assert.rejects(net.check({ podId: podId(12) }), /has no CNI network attachment/);
  });

  it('DEL of a 0.3.1 network gets no prevResult (defined from 0.4.0)', async () => {
    await writeFile(join(conf, '10-fake.conflist'), chain('0.3.1'));
    const net = network();
    await net.setUp(request(13));
    await rm(join(dir, 'log'));
    await net.tearDown({ podId: podId(13) });
    const dels = await calls();
    assert.equal(dels.length, 2);
    for (const c of dels) {
      assert.equal(c.stdin.cniVersion, '0.3.1');
      assert.equal(c.stdin.prevResult, undefined);
    }
  });

  it('pods are set up in parallel, each pod one operation at a time', async () => {
    await ctlFile('first.ADD.sleep', '0.5');
    const net = network();
    const started = Date.now();
    await Promise.all([20, 21, 22, 23, 24, 25].map((n) => net.setUp(request(n))));
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2000, `6 pods with a 0.5 s plugin took ${elapsed} ms: not run in parallel`);
    // The same pod twice at once: the second waits for the first, then refuses.
    await rm(join(ctl, 'first.ADD.sleep'));
    const results = await Promise.allSettled([net.setUp(request(26)), net.setUp(request(26))]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[1].status, 'rejected');
    assert.match(String((results[1] as PromiseRejectedResult).reason), /already has a CNI network attachment/);
  });

  it('bad requests are refused before any plugin runs', async () => {
    const net = network();
    const bad: [Partial<PodNetworkRequest>, RegExp][] = [
      [{ podId: '../../etc/passwd' }, /invalid pod id/],
      [{ podName: 'a;b=c' }, /podName "a;b=c" may not contain/],
      [{ ifName: 'this-is-far-too-long' }, /invalid interface name/],
      [{ netnsPath: 'relative/ns' }, /netnsPath must be an absolute path/],
      [{ netnsPath: join(dir, 'log') }, /is not a network namespace/],
      [{ portMappings: [{ hostPort: 70000, containerPort: 80, protocol: 'tcp' }] }, /portMappings\[0\]\.hostPort must be an integer from 1 to 65535/],
      [{ portMappings: [{ hostPort: 80, containerPort: 80, protocol: 'icmp' as 'tcp' }] }, /protocol must be tcp, udp or sctp/],
      [{ ips: ['10.0.0.1/33'] }, /is not an IP address/],
    ];
    for (const [over, message] of bad) {
      await assert.rejects(net.setUp(request(30, over)), (err: Error) => {
        assert.match(err.message, message);
        assert.ok(err instanceof InvalidNetworkRequestError, err.message);
        return true;
      });
    }
    assert.deepEqual(await calls(), []);
  });

  it('status: not ready without a config, ready once a conflist is there', async () => {
    await rm(join(conf, '10-fake.conflist'));
    const net = network();
    const empty = await net.status();
    assert.equal(empty.ready, false);
    assert.match(empty.ready ? '' : empty.reason, /no CNI network config found in/);
    assert.match(((await network({ configDir: join(dir, 'absent') }).status()) as { reason: string }).reason, /cannot read CNI config dir .*ENOENT/);
    await writeFile(join(conf, '10-fake.conflist'), chain('1.0.0'));
    assert.deepEqual(await net.status(), { ready: true, network: 'fakenet', file: join(conf, '10-fake.conflist') });
    await assert.rejects(network({ defaultNetwork: 'wanted' }).setUp(request(31)), /CNI network is not ready: no CNI network "wanted" found/);
  });
});

describe('ipsFromResult', () => {
  it('reads 0.1.0/0.2.0 results (ip4/ip6)', () => {
    assert.deepEqual(ipsFromResult({ cniVersion: '0.2.0', ip6: { ip: 'fd00::5/64' }, ip4: { ip: '10.1.0.5/16', gateway: '10.1.0.1' } }), ['10.1.0.5', 'fd00::5']);
  });

  it('reads 0.3.x/0.4.0 results with version fields', () => {
    const result = {
      cniVersion: '0.3.1',
      interfaces: [{ name: 'cni0', mac: '00:11:22:33:44:55' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [
        { version: '6', address: 'fd00:1::9/64', interface: 2 },
        { version: '4', address: '10.22.0.9/16', gateway: '10.22.0.1', interface: 2 },
      ],
    };
    assert.deepEqual(ipsFromResult(result), ['10.22.0.9', 'fd00:1::9']);
    assert.deepEqual(ipsFromResult(result, 'eth0'), ['10.22.0.9', 'fd00:1::9']);
  });

  it('reads 1.0.0 results: host-side addresses left out, the requested interface preferred', () => {
    const result = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/n' }, { name: 'net1', sandbox: '/n' }],
      ips: [
        { address: '10.0.0.1/24', interface: 0 },
        { address: '192.168.5.5/24', interface: 2 },
        { address: '10.0.0.5/24', interface: 1 },
        { address: '10.0.0.5/24', interface: 1 },
      ],
    };
    assert.deepEqual(ipsFromResult(result, 'eth0'), ['10.0.0.5']);
    assert.deepEqual(ipsFromResult(result, 'net1'), ['192.168.5.5']);
    assert.deepEqual(ipsFromResult(result), ['192.168.5.5', '10.0.0.5']);
    assert.deepEqual(ipsFromResult({ cniVersion: '1.0.0', ips: [{ address: '10.3.0.4/16' }] }, 'eth0'), ['10.3.0.4'], 'no interface index: kept');
  });

  it('ignores what is not a result', () => {
    for (const junk of [undefined, null, 'x', [], { ips: 'no' }, { ips: [{ address: 'nope/24' }, 7] }]) assert.deepEqual(ipsFromResult(junk), []);
  });
});
