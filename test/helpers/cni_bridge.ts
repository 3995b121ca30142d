// A CNI bridge network of the test's own (bridge name and subnet unique to
// it, plugins from /usr/lib/cni), and removal of what it leaves on the host
// when a test fails half-way.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const cniPluginDir = '/usr/lib/cni';

export interface BridgeNetworkOptions {
  /** Adds the portmap plugin, for hostPort mappings. */
  portmap?: boolean;
}

/** Writes the network's conflist into the daemon's CNI config dir. */
export async function writeBridgeNetwork(cniDir: string, ipamDir: string, bridge: string, subnet: string, opts: BridgeNetworkOptions = {}): Promise<void> {
  const plugins: object[] = [
    { type: 'bridge', bridge, isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir } },
  ];
  if (opts.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
  await writeFile(join(cniDir, `10-${bridge}.conflist`), JSON.stringify({ cniVersion: '1.0.0', name: `skiff-${bridge}`, plugins }));
}

export async function removeBridge(bridge: string): Promise<void> {
  await run('ip', ['link', 'del', bridge]).catch(() => undefined);
}

/** iptables rules (nat and filter) that mention any of `needles`, as `table: -S line`. */
export async function iptablesRulesMentioning(...needles: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const table of ['nat', 'filter']) {
    const { stdout } = await run('iptables', ['-w', '-t', table, '-S']);
    out.push(...stdout.split('\n').filter((l) => l.startsWith('-A ') && needles.some((n) => l.includes(n))).map((l) => `${table}: ${l}`));
  }
  return out;
}

/** Best-effort removal of rules a failed test left for this subnet (the plugins normally remove them). */
export async function removeIptablesRules(subnet: string): Promise<void> {
  for (const line of await iptablesRulesMentioning(subnet).catch(() => [] as string[])) {
    const [table, rule] = line.split(': ', 2) as [string, string];
    await run('sh', ['-c', `iptables -w -t ${table} ${rule.replace(/^-A /, '-D ')}`]).catch(() => undefined);
  }
}
