// The files a pod's containers share: /etc/hostname, /etc/hosts,
// /etc/resolv.conf and a /dev/shm tmpfs, kept in the pod's run directory.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable } from '../host/executables.js';
import { writeWholeFile } from '../native/index.js';
import { runCommand, type CommandResult } from '../process/command.js';
import type { DNSConfig } from '../proto/cri.js';

export interface PodFilePaths {
  hostname: string;
  hosts: string;
  resolvConf: string;
  shm: string;
}

export function podFilePaths(runDir: string): PodFilePaths {
  return {
    hostname: join(runDir, 'hostname'),
    hosts: join(runDir, 'hosts'),
    resolvConf: join(runDir, 'resolv.conf'),
    shm: join(runDir, 'shm'),
  };
}

/** Writes hostname, hosts and resolv.conf; the kubelet's DNSConfig wins over the host's resolv.conf. */
export async function writePodFiles(paths: PodFilePaths, pod: { hostname: string; ips: string[]; dns: DNSConfig | null; hostNetwork: boolean }): Promise<void> {
  const hosts = pod.hostNetwork
    ? readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n')
    : [
        '127.0.0.1\tlocalhost',
        '::1\tlocalhost ip6-localhost ip6-loopback',
        'fe00::0\tip6-localnet',
        'fe00::0\tip6-mcastprefix',
        'fe00::1\tip6-allnodes',
        'fe00::2\tip6-allrouters',
        ...pod.ips.map((ip) => `${ip}\t${pod.hostname}`),
        '',
      ].join('\n');
  await Promise.all([
    writeWholeFile(paths.hostname, `${pod.hostname}\n`, { mode: 0o644 }),
    Promise.resolve(hosts).then((text) => writeWholeFile(paths.hosts, text, { mode: 0o644 })),
    resolvConf(pod.dns).then((text) => writeWholeFile(paths.resolvConf, text, { mode: 0o644 })),
  ]);
}

async function resolvConf(dns: DNSConfig | null): Promise<string> {
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) {
    return readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  }
  const lines: string[] = [];
  if (dns.searches.length) lines.push(`search ${dns.searches.join(' ')}`);
  for (const server of dns.servers) lines.push(`nameserver ${server}`);
  if (dns.options.length) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Rejects DNS entries that would inject extra lines or directives into resolv.conf. */
export function dnsConfigProblem(dns: DNSConfig | null): string | undefined {
  if (!dns) return undefined;
  for (const [field, values] of [['servers', dns.servers], ['searches', dns.searches], ['options', dns.options]] as const) {
    for (const [i, value] of values.entries()) {
      if (value === '' || /[\s\0]/.test(value)) return `config.dns_config.${field}[${i}]: ${JSON.stringify(value)} must be one non-empty word`;
    }
  }
  return undefined;
}

/** A private tmpfs for the pod's /dev/shm (64 MiB, like the kubelet's default). */
export async function mountShm(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const res = await run('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,mode=1777,size=65536k', 'shm', path]);
  if (res.code !== 0) throw failure('mount', res);
}

export async function unmountShm(path: string): Promise<void> {
  const res = await run('umount', ['-l', path]);
  // Already gone: idempotent.
  if (res.code !== 0 && !/not mounted|no mount point|not found|No such file/.test(res.stderr)) throw failure('umount', res);
}

/** mount(8) or umount(8), started without forking the daemon. */
async function run(program: 'mount' | 'umount', args: string[]): Promise<CommandResult> {
  const path = await findExecutable(program, `${process.env.PATH ?? ''}:/usr/bin:/bin:/usr/sbin:/sbin`);
  if (!path) throw new Error(`${program}(8) not found in PATH or the sbin directories`);
  return runCommand(path, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 30_000, maxOutput: 64 * 1024 });
}

function failure(program: string, res: CommandResult): Error {
  return new Error(`${program}: ${res.stderr.trim() || res.stdout.trim() || (res.timedOut ? 'timed out' : (res.signal ?? `exit status ${res.code}`))}`);
}
