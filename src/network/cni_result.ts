// Reading CNI results: the 0.3.x / 0.4.0 / 1.x shape ({interfaces, ips, routes,
// dns}) and the older 0.1.0 / 0.2.0 one ({ip4, ip6, dns}).
import { isIP } from 'node:net';

export interface CniInterface {
  name: string;
  mac?: string;
  /** The namespace path for interfaces inside the sandbox; absent for host-side ones. */
  sandbox?: string;
}

export interface CniIpConfig {
  /** The address without prefix length. */
  ip: string;
  /** CIDR form as the plugin reported it, e.g. 10.88.0.5/16. */
  address: string;
  family: 4 | 6;
  gateway?: string;
  /** Index into the result's `interfaces`, when the plugin said which. */
  interface?: number;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** The interfaces of a result (none for pre-0.3.0 results, which have no such list). */
export function interfacesFromResult(result: unknown): CniInterface[] {
  const list = record(result)?.interfaces;
  if (!Array.isArray(list)) return [];
  return list.map((item) => {
    const i = record(item) ?? {};
    const out: CniInterface = { name: typeof i.name === 'string' ? i.name : '' };
    if (typeof i.mac === 'string' && i.mac !== '') out.mac = i.mac;
    if (typeof i.sandbox === 'string' && i.sandbox !== '') out.sandbox = i.sandbox;
    return out;
  });
}

function ipConfig(addressField: unknown, gatewayField: unknown, iface: unknown): CniIpConfig | undefined {
  if (typeof addressField !== 'string') return undefined;
  const ip = addressField.split('/')[0] ?? '';
  const family = isIP(ip);
  if (family !== 4 && family !== 6) return undefined;
  const out: CniIpConfig = { ip, address: addressField, family };
  if (typeof gatewayField === 'string' && isIP(gatewayField) !== 0) out.gateway = gatewayField;
  if (typeof iface === 'number' && Number.isInteger(iface) && iface >= 0) out.interface = iface;
  return out;
}

/** Every IP configuration of a result, in the plugin's order. */
export function ipConfigsFromResult(result: unknown): CniIpConfig[] {
  const r = record(result);
  if (!r) return [];
  const out: CniIpConfig[] = [];
  if (Array.isArray(r.ips)) {
    for (const item of r.ips) {
      const i = record(item);
      const c = i && ipConfig(i.address, i.gateway, i.interface);
      if (c) out.push(c);
    }
  }
  for (const key of ['ip4', 'ip6']) {
    const i = record(r[key]);
    const c = i && ipConfig(i.ip, i.gateway, undefined);
    if (c) out.push(c);
  }
  return out;
}

/**
 * The pod's IP configurations: those on the sandbox interface `ifName` when the
 * result says which interface each IP belongs to, else every IP not on a
 * host-side interface. IPv4 first, then IPv6, each in the plugin's order.
 */
export function podIpConfigs(result: unknown, ifName?: string): CniIpConfig[] {
  const interfaces = interfacesFromResult(result);
  const onIf: CniIpConfig[] = [];
  const other: CniIpConfig[] = [];
  for (const c of ipConfigsFromResult(result)) {
    const iface = c.interface !== undefined ? interfaces[c.interface] : undefined;
    if (iface && iface.sandbox === undefined) continue; // an address on the host side (e.g. a bridge)
    if (iface && ifName !== undefined && iface.name === ifName) onIf.push(c);
    else other.push(c);
  }
  const chosen = onIf.length ? onIf : other;
  const seen = new Set<string>();
  const unique = chosen.filter((c) => !seen.has(c.ip) && seen.add(c.ip));
  return [...unique.filter((c) => c.family === 4), ...unique.filter((c) => c.family === 6)];
}

/** The pod IPs of a CNI result (any version from 0.1.0 to 1.x), IPv4 first, without prefix lengths. */
export function ipsFromResult(result: unknown, ifName?: string): string[] {
  return podIpConfigs(result, ifName).map((c) => c.ip);
}
