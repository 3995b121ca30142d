// Pod networking through CNI: ADD / DEL / CHECK of the configured network's
// plugin chain for a pod's network namespace, with the attachment cached on
// disk so DEL and CHECK use exactly what ADD used.
import { statfs } from 'node:fs/promises';
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import type { Logger } from 'pino';
import { CniCache, cacheFormatVersion, type CachedNetwork, type CniAttachmentRecord } from './cni_cache.js';
import { findCniNetwork } from './cni_config.js';
import { execPlugin, findPlugin, missingPluginMessage, type CniCommand } from './cni_exec.js';
import { interfacesFromResult, podIpConfigs, type CniInterface, type CniIpConfig } from './cni_result.js';

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

/** Rates in bits per second, bursts in bits (the `bandwidth` capability). */
export interface BandwidthLimits {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** The `dns` capability. */
export interface DnsCapability {
  servers?: string[];
  searches?: string[];
  options?: string[];
}

export interface PodNetworkRequest {
  /** The sandbox id: CNI_CONTAINERID and the cache key. */
  podId: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  /** A pinned network namespace (a bind mount of an nsfs file): CNI_NETNS. */
  netnsPath: string;
  /** The interface inside the pod; default eth0. */
  ifName?: string;
  /** Entries with hostPort 0 (container ports without a host port) are left out. */
  portMappings?: PortMapping[];
  bandwidth?: BandwidthLimits;
  /** Specific IPs to ask for (`ips` capability), each `ip` or `ip/prefix`. */
  ips?: string[];
  dns?: DnsCapability;
  /** `mac` capability. */
  mac?: string;
  /** `cgroupPath` capability. */
  cgroupPath?: string;
  /** Any other capability arguments, by capability name; the named fields above win. */
  capabilityArgs?: Record<string, unknown>;
}

export interface PodNetworkStatus {
  network: string;
  ifName: string;
  netns: string;
  /** Pod IPs without prefix length, IPv4 first. */
  ips: string[];
  /** The same IPs with prefix length, gateway and interface, in the same order. */
  ipConfigs: CniIpConfig[];
  interfaces: CniInterface[];
  gateway?: string;
  /** The final CNI result of the ADD, in the network's cniVersion. */
  result: unknown;
}

export type NetworkReadiness = { ready: true; network: string; file: string } | { ready: false; reason: string };

export interface CniNetworkOptions {
  configDir: string;
  pluginDirs: string[];
  /** Network name to use; empty: the lexically first config in configDir. */
  defaultNetwork: string;
  /** Where the per-pod attachment records live. */
  cacheDir: string;
  log: Logger;
  /** Deadline for one plugin execution; default 60 s. */
  pluginTimeoutMs?: number;
}

/** A request the kubelet (or a caller) got wrong; nothing was done. */
export class InvalidNetworkRequestError extends Error {
  override readonly name = 'InvalidNetworkRequestError';
}

const NSFS_MAGIC = 0x6e736673;
const loopbackNetworkName = 'cni-loopback';

export class CniNetwork {
  private readonly cache: CniCache;
  private readonly locks = new KeyedLock();
  private readonly timeoutMs: number;

  constructor(private readonly opts: CniNetworkOptions) {
    this.cache = new CniCache(opts.cacheDir);
    this.timeoutMs = opts.pluginTimeoutMs ?? 60_000;
  }

  /** NetworkReady: a usable network config exists and its plugins (and loopback) are installed. */
  async status(): Promise<NetworkReadiness> {
    const lookup = await findCniNetwork(this.opts.configDir, this.opts.defaultNetwork);
    if (!lookup.found) return { ready: false, reason: lookup.reason };
    const net = lookup.network;
    const types = ['loopback', ...net.plugins.map((p) => p.type as string)];
    const found = await Promise.all(types.map((t) => findPlugin(t, this.opts.pluginDirs)));
    const missing = types.filter((_, i) => found[i] === undefined);
    if (missing.length) {
      return { ready: false, reason: `network "${net.name}" from ${net.file}: ${missing.map((t) => missingPluginMessage(t, this.opts.pluginDirs)).join('; ')}` };
    }
    return { ready: true, network: net.name, file: net.file };
  }

  /**
   * CNI ADD: brings lo up (loopback plugin), then runs the network's plugin
   * chain. The attachment is on disk before this resolves; a failed ADD is
   * rolled back with DEL before it rejects.
   */
  async setUp(request: PodNetworkRequest): Promise<PodNetworkStatus> {
    const req = normaliseRequest(request);
    return this.locks.run(req.podId, async () => {
      const started = Date.now();
      const log = this.opts.log.child({ podId: req.podId });
      if (await this.cache.read(req.podId)) {
        throw new Error(`pod ${req.podId} already has a CNI network attachment; tear it down first`);
      }
      if (!(await isNetns(req.netnsPath))) {
        throw new InvalidNetworkRequestError(`${req.netnsPath} is not a network namespace`);
      }
      const lookup = await findCniNetwork(this.opts.configDir, this.opts.defaultNetwork);
      if (!lookup.found) throw new Error(`CNI network is not ready: ${lookup.reason}`);
      const { file, name, cniVersion, plugins, disableCheck } = lookup.network;
      const network: CachedNetwork = { file, name, cniVersion, plugins, disableCheck };

      // Every binary up front: a missing one fails before anything was changed.
      const loopback = await this.plugin('loopback');
      for (const p of plugins) await this.plugin(p.type as string);

      const record: CniAttachmentRecord = {
        version: cacheFormatVersion,
        podId: req.podId,
        pod: { name: req.podName, namespace: req.podNamespace, uid: req.podUid },
        ifName: req.ifName,
        netns: req.netnsPath,
        cniArgs: req.cniArgs,
        network,
        runtimeConfig: req.runtimeConfig,
        state: 'adding',
        createdAt: new Date().toISOString(),
      };
      await this.cache.write(record);

      const loConfig = { cniVersion: cniVersion || '1.0.0', name: loopbackNetworkName, type: 'loopback' };
      try {
        await execPlugin(loopback, 'loopback', loConfig, this.invocation('ADD', record, record.netns, 'lo'));
      } catch (err) {
        await this.cache.remove(req.podId).catch((e: Error) => log.warn({ err: e }, 'cannot remove CNI cache entry'));
        throw err;
      }

      let prevResult: unknown;
      try {
        for (const plugin of plugins) {
          const out = await this.runPlugin('ADD', record, plugin, record.netns, prevResult);
          // A plugin that prints nothing on ADD breaks the chain's contract; keep what came before.
          if (out !== undefined) prevResult = out;
        }
        record.state = 'ready';
        record.result = prevResult ?? {};
        await this.cache.write(record);
      } catch (err) {
        await this.rollback(record, err as Error, log);
        throw err;
      }
      const status = statusOf(record);
      log.info({ network: name, ips: status.ips, ms: Date.now() - started }, 'pod network set up');
      return status;
    });
  }

  /**
   * CNI DEL with the cached attachment (plugins in reverse order, each given
   * the ADD's final result). Succeeds for pods never set up or already torn
   * down. When the namespace is gone the plugins still run, with CNI_NETNS
   * empty, so they release addresses and host-side state.
   */
  async tearDown(request: { podId: string; netnsPath?: string }): Promise<void> {
    const podId = validPodId(request.podId);
    await this.locks.run(podId, async () => {
      const record = await this.cache.read(podId);
      if (!record) {
        this.opts.log.debug({ podId }, 'no CNI attachment to tear down');
        return;
      }
      const wanted = request.netnsPath ?? record.netns;
      const netns = (await isNetns(wanted)) ? wanted : '';
      await this.deleteChain(record, netns);
      await this.cache.remove(podId);
      this.opts.log.info({ podId, network: record.network.name, netns: netns || '(gone)' }, 'pod network torn down');
    });
  }

  /**
   * CNI CHECK of a set-up pod. Resolves true when every plugin confirmed the
   * attachment, false when the network cannot be checked (cniVersion below
   * 0.4.0, or `disableCheck`); rejects with the first plugin's error.
   */
  async check(request: { podId: string; netnsPath?: string }): Promise<boolean> {
    const podId = validPodId(request.podId);
    return this.locks.run(podId, async () => {
      const record = await this.cache.read(podId);
      if (!record || record.state !== 'ready') throw new Error(`pod ${podId} has no CNI network attachment`);
      if (record.network.disableCheck || !versionAtLeast(record.network.cniVersion, '0.4.0')) return false;
      const netns = request.netnsPath ?? record.netns;
      if (!(await isNetns(netns))) throw new Error(`network namespace ${netns} of pod ${podId} is gone`);
      for (const plugin of record.network.plugins) {
        await this.runPlugin('CHECK', record, plugin, netns, record.result);
      }
      return true;
    });
  }

  /** The pod's network as ADD left it, from the cache (undefined when it has none). */
  async cachedStatus(podId: string): Promise<PodNetworkStatus | undefined> {
    const record = await this.cache.read(validPodId(podId));
    return record?.state === 'ready' ? statusOf(record) : undefined;
  }

  /** Pods with a cached attachment (set up, or whose ADD or rollback did not finish). */
  cachedPods(): Promise<string[]> {
    return this.cache.list();
  }

  private async plugin(type: string): Promise<string> {
    const path = await findPlugin(type, this.opts.pluginDirs);
    if (!path) throw new Error(missingPluginMessage(type, this.opts.pluginDirs));
    return path;
  }

  private invocation(command: CniCommand, record: CniAttachmentRecord, netns: string, ifName = record.ifName) {
    return { command, containerId: record.podId, netns, ifName, args: record.cniArgs, pluginDirs: this.opts.pluginDirs, timeoutMs: this.timeoutMs };
  }

  private async runPlugin(command: CniCommand, record: CniAttachmentRecord, plugin: Record<string, unknown>, netns: string, prevResult: unknown): Promise<unknown> {
    const type = plugin.type as string;
    const path = await this.plugin(type);
    const config = requestConfig(record.network, plugin, record.runtimeConfig, prevResult);
    const started = Date.now();
    try {
      return await execPlugin(path, type, config, this.invocation(command, record, netns));
    } finally {
      this.opts.log.debug({ podId: record.podId, plugin: type, command, ms: Date.now() - started }, 'CNI plugin ran');
    }
  }

  /** DEL in reverse order; stops at the first failure, as the spec asks. */
  private async deleteChain(record: CniAttachmentRecord, netns: string): Promise<void> {
    // prevResult on DEL is defined from 0.4.0; without a finished ADD there is none to give.
    const prev = record.state === 'ready' && versionAtLeast(record.network.cniVersion, '0.4.0') ? record.result : undefined;
    for (const plugin of [...record.network.plugins].reverse()) {
      await this.runPlugin('DEL', record, plugin, netns, prev);
    }
  }

  /** Undoes a failed ADD: DEL of the whole chain; if that fails too, the record stays for tearDown. */
  private async rollback(record: CniAttachmentRecord, cause: Error, log: Logger): Promise<void> {
    record.state = 'failed';
    delete record.result;
    try {
      await this.deleteChain(record, (await isNetns(record.netns)) ? record.netns : '');
      await this.cache.remove(record.podId);
      log.warn({ err: cause }, 'pod network ADD failed and was rolled back');
    } catch (err) {
      cause.message += `; rolling back with DEL failed too (${(err as Error).message}), tearDown will retry`;
      await this.cache.write(record).catch((e: Error) => log.error({ err: e }, 'cannot record the failed CNI attachment'));
      log.error({ err: cause }, 'pod network ADD failed and could not be rolled back');
    }
  }
}

/** The stdin config of one plugin: its own config with the list's name and cniVersion, its capability args, prevResult. */
export function requestConfig(
  network: Pick<CachedNetwork, 'name' | 'cniVersion'>,
  plugin: Record<string, unknown>,
  runtimeConfig: Record<string, unknown>,
  prevResult: unknown,
): Record<string, unknown> {
  const config: Record<string, unknown> = { ...plugin, name: network.name };
  if (network.cniVersion !== '') config.cniVersion = network.cniVersion;
  delete config.prevResult;
  const declared = plugin.capabilities;
  const granted: Record<string, unknown> = {};
  if (typeof declared === 'object' && declared !== null) {
    for (const [cap, on] of Object.entries(declared)) {
      if (on === true && runtimeConfig[cap] !== undefined) granted[cap] = runtimeConfig[cap];
    }
  }
  if (Object.keys(granted).length) {
    const own = typeof plugin.runtimeConfig === 'object' && plugin.runtimeConfig !== null ? plugin.runtimeConfig : {};
    config.runtimeConfig = { ...own, ...granted };
  }
  if (prevResult !== undefined) config.prevResult = prevResult;
  return config;
}

function statusOf(record: CniAttachmentRecord): PodNetworkStatus {
  const ipConfigs = podIpConfigs(record.result, record.ifName);
  const status: PodNetworkStatus = {
    network: record.network.name,
    ifName: record.ifName,
    netns: record.netns,
    ips: ipConfigs.map((c) => c.ip),
    ipConfigs,
    interfaces: interfacesFromResult(record.result),
    result: record.result,
  };
  const gateway = ipConfigs.find((c) => c.gateway !== undefined)?.gateway;
  if (gateway !== undefined) status.gateway = gateway;
  return status;
}

async function isNetns(path: string): Promise<boolean> {
  if (path === '') return false;
  try {
    return (await statfs(path)).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

/** Compares dotted versions numerically ("0.10.0" > "0.4.0"); a missing version counts as 0.1.0, as plugins read it. */
export function versionAtLeast(version: string, min: string): boolean {
  const parse = (v: string) => (v === '' ? '0.1.0' : v).split('.').map((n) => Number.parseInt(n, 10) || 0);
  const a = parse(version);
  const b = parse(min);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

interface NormalisedRequest {
  podId: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  netnsPath: string;
  ifName: string;
  cniArgs: string;
  runtimeConfig: Record<string, unknown>;
}

function validPodId(id: unknown): string {
  // The spec's container ID rule; it also keeps the cache file name inside the cache dir.
  if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(id)) {
    throw new InvalidNetworkRequestError(`invalid pod id ${JSON.stringify(id)}: want letters, digits, _ . - (starting with a letter or digit)`);
  }
  return id;
}

function argValue(field: string, v: unknown): string {
  if (typeof v !== 'string') throw new InvalidNetworkRequestError(`${field} must be a string`);
  // CNI_ARGS is `K=V;K=V`: a value may hold neither separator.
  if (/[;=\s\x00-\x1f]/.test(v)) throw new InvalidNetworkRequestError(`${field} ${JSON.stringify(v)} may not contain ';', '=' or whitespace`);
  return v;
}

function validIfName(v: unknown): string {
  if (v === undefined) return 'eth0';
  if (typeof v !== 'string' || v.length === 0 || v.length > 15 || v === '.' || v === '..' || /[/:\s\x00-\x1f]/.test(v)) {
    throw new InvalidNetworkRequestError(`invalid interface name ${JSON.stringify(v)}: 1-15 characters, no '/', ':' or whitespace`);
  }
  return v;
}

function port(field: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 65535) {
    throw new InvalidNetworkRequestError(`${field} must be an integer from ${min} to 65535, got ${JSON.stringify(v)}`);
  }
  return v;
}

function stringList(field: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new InvalidNetworkRequestError(`${field} must be a list of strings`);
  return v as string[];
}

function normaliseRequest(req: PodNetworkRequest): NormalisedRequest {
  const podId = validPodId(req.podId);
  const podName = argValue('podName', req.podName);
  const podNamespace = argValue('podNamespace', req.podNamespace);
  const podUid = argValue('podUid', req.podUid);
  if (typeof req.netnsPath !== 'string' || !isAbsolute(req.netnsPath)) {
    throw new InvalidNetworkRequestError(`netnsPath must be an absolute path, got ${JSON.stringify(req.netnsPath)}`);
  }
  const ifName = validIfName(req.ifName);
  const cniArgs = [
    'IgnoreUnknown=1',
    `K8S_POD_NAMESPACE=${podNamespace}`,
    `K8S_POD_NAME=${podName}`,
    `K8S_POD_INFRA_CONTAINER_ID=${podId}`,
    `K8S_POD_UID=${podUid}`,
  ].join(';');

  const rc: Record<string, unknown> = { ...(req.capabilityArgs ?? {}) };
  if (req.portMappings !== undefined) {
    if (!Array.isArray(req.portMappings)) throw new InvalidNetworkRequestError('portMappings must be a list');
    const mappings = req.portMappings
      .filter((m) => m.hostPort !== 0)
      .map((m, i) => {
        const protocol = typeof m.protocol === 'string' ? m.protocol.toLowerCase() : m.protocol;
        if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') {
          throw new InvalidNetworkRequestError(`portMappings[${i}].protocol must be tcp, udp or sctp, got ${JSON.stringify(m.protocol)}`);
        }
        const out: Record<string, unknown> = {
          hostPort: port(`portMappings[${i}].hostPort`, m.hostPort, 1),
          containerPort: port(`portMappings[${i}].containerPort`, m.containerPort, 1),
          protocol,
        };
        if (m.hostIP !== undefined && m.hostIP !== '') {
          if (isIP(m.hostIP) === 0) throw new InvalidNetworkRequestError(`portMappings[${i}].hostIP ${JSON.stringify(m.hostIP)} is not an IP address`);
          out.hostIP = m.hostIP;
        }
        return out;
      });
    if (mappings.length) rc.portMappings = mappings;
  }
  if (req.bandwidth !== undefined) {
    const bw: Record<string, number> = {};
    for (const key of ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'] as const) {
      const v = req.bandwidth[key];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidNetworkRequestError(`bandwidth.${key} must be a non-negative number`);
      bw[key] = v;
    }
    if (Object.keys(bw).length) rc.bandwidth = bw;
  }
  if (req.ips !== undefined) {
    const ips = stringList('ips', req.ips);
    for (const ip of ips) {
      const [addr = '', prefix, extra] = ip.split('/');
      const family = isIP(addr);
      const bits = prefix === undefined ? 0 : Number(prefix);
      if (family === 0 || extra !== undefined || (prefix !== undefined && (!/^\d+$/.test(prefix) || bits > (family === 4 ? 32 : 128)))) {
        throw new InvalidNetworkRequestError(`ips: ${JSON.stringify(ip)} is not an IP address (with optional /prefix)`);
      }
    }
    if (ips.length) rc.ips = ips;
  }
  if (req.dns !== undefined) {
    const dns: Record<string, string[]> = {};
    for (const key of ['servers', 'searches', 'options'] as const) {
      if (req.dns[key] !== undefined) dns[key] = stringList(`dns.${key}`, req.dns[key]);
    }
    rc.dns = dns;
  }
  if (req.mac !== undefined) {
    if (typeof req.mac !== 'string' || !/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/.test(req.mac)) throw new InvalidNetworkRequestError(`mac ${JSON.stringify(req.mac)} is not a MAC address`);
    rc.mac = req.mac;
  }
  if (req.cgroupPath !== undefined) {
    if (typeof req.cgroupPath !== 'string') throw new InvalidNetworkRequestError('cgroupPath must be a string');
    rc.cgroupPath = req.cgroupPath;
  }
  return { podId, podName, podNamespace, podUid, netnsPath: req.netnsPath, ifName, cniArgs, runtimeConfig: rc };
}

/** One critical section at a time per key; different keys run in parallel. */
class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before.then(() => mine);
    this.tails.set(key, tail);
    await before;
    try {
      return await section();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

export { ipsFromResult } from './cni_result.js';
export { CniPluginError } from './cni_exec.js';
