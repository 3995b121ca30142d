// The configuration's shape: every key, its type, default, flag and meaning.
// Loading, validation, flags and `skiff config` output are all driven by
// this one table, so a key added here is complete everywhere.

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof logLevels)[number];

export const cgroupManagers = ['cgroupfs', 'systemd'] as const;
export type CgroupManager = (typeof cgroupManagers)[number];

export const runtimeTypes = ['oci'] as const;

export interface RuntimeHandlerConfig {
  runtime_path: string;
  runtime_root: string;
  runtime_type: (typeof runtimeTypes)[number];
  monitor_path: string;
  monitor_env: string[];
  allowed_annotations: string[];
  privileged_without_host_devices: boolean;
}

export interface SkiffConfig {
  root: string;
  runroot: string;
  listen: string;
  log_level: LogLevel;
  cgroup_manager: CgroupManager;
  default_cgroup_parent: string;
  default_runtime: string;
  exec_sync_output_max: number;
  runtimes: Record<string, RuntimeHandlerConfig>;
  pause: { image: string; command: string; cpuset: string };
  network: { cni_config_dir: string; cni_plugin_dirs: string[]; cni_default_network: string };
  image: {
    registries_conf: string;
    registries_conf_dir: string;
    signature_policy: string;
    auth_file: string;
    certs_dir: string;
    max_concurrent_downloads: number;
    max_layer_size: number;
  };
  streaming: { address: string; port: number };
  metrics: { enable: boolean; address: string; port: number };
}

/** What a value must be; `check` adds constraints beyond the type. */
export type ValueKind =
  | { type: 'string'; check?: (v: string) => string | undefined }
  | { type: 'path'; optional?: boolean }
  | { type: 'socket' }
  | { type: 'integer'; min: number; max: number }
  | { type: 'boolean' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'string[]'; check?: (v: string) => string | undefined }
  | { type: 'path[]' };

export interface KeySpec {
  kind: ValueKind;
  doc: string;
  /** Long flag name without dashes; the runtime handler keys share `--runtime`. */
  flag?: string;
  /** Repeatable flags append to a list. */
  repeatable?: boolean;
}

/** A section is a fixed table of keys; `runtimes` is a table of handler tables. */
export interface SectionSpec {
  doc: string;
  keys: Record<string, KeySpec>;
}

const absolute = { type: 'path' } as const;

/** ExecSync output that still fits, with the reply's framing, in the 16 MiB message the kubelet accepts. */
export const execSyncOutputLimit = 16 * 1024 * 1024 - 4096;

export const topLevelSpec: Record<string, KeySpec> = {
  root: { kind: absolute, flag: 'root', doc: 'Persistent state: images, layers, container records.' },
  runroot: { kind: absolute, flag: 'runroot', doc: 'Volatile state: sockets, exit files, pinned namespaces, mounts.' },
  listen: { kind: { type: 'socket' }, flag: 'listen', doc: 'Unix socket of the CRI gRPC services (mode 0660); a path or unix:///path.' },
  log_level: { kind: { type: 'enum', values: logLevels }, flag: 'log-level', doc: 'Daemon log level.' },
  cgroup_manager: {
    kind: { type: 'enum', values: cgroupManagers },
    flag: 'cgroup-manager',
    doc: 'Cgroup driver; must match the kubelet\'s cgroupDriver.',
  },
  default_cgroup_parent: {
    kind: { type: 'string', check: cgroupParentPath },
    flag: 'default-cgroup-parent',
    doc: 'Parent of the cgroup of a pod that names no cgroup_parent (a cgroupfs path; a slice under systemd).',
  },
  default_runtime: {
    kind: { type: 'string', check: nonEmpty },
    flag: 'default-runtime',
    doc: 'Runtime handler used when a pod names none; must be a [runtimes.NAME] table.',
  },
  exec_sync_output_max: {
    kind: { type: 'integer', min: 0, max: execSyncOutputLimit },
    flag: 'exec-sync-output-max',
    doc: 'Bytes of output one ExecSync returns, stdout and stderr together; the rest is read and dropped. At most 16 MiB - 4 KiB, the CRI reply limit.',
  },
};

export const runtimeHandlerSpec: Record<keyof RuntimeHandlerConfig, KeySpec> = {
  runtime_path: { kind: { type: 'path', optional: true }, doc: 'OCI runtime binary; empty: the handler name looked up in PATH.' },
  runtime_root: { kind: { type: 'path', optional: true }, doc: 'Runtime state dir (--root); empty: RUNROOT/runtimes/NAME.' },
  runtime_type: { kind: { type: 'enum', values: runtimeTypes }, doc: 'How the runtime is driven; "oci" runs it under the monitor.' },
  monitor_path: { kind: { type: 'path', optional: true }, doc: 'conmon binary; empty: "conmon" looked up in PATH.' },
  monitor_env: { kind: { type: 'string[]', check: envEntry }, doc: 'Environment of the monitor process, as NAME=VALUE.' },
  allowed_annotations: { kind: { type: 'string[]', check: nonEmpty }, doc: 'Annotations this handler may act on.' },
  privileged_without_host_devices: {
    kind: { type: 'boolean' },
    doc: 'Privileged containers of this handler do not get the host\'s devices.',
  },
};

export const sectionSpecs: Record<'pause' | 'network' | 'image' | 'streaming' | 'metrics', SectionSpec> = {
  pause: {
    doc: 'The infra (pause) process, started only for pods that share a PID namespace.',
    keys: {
      image: { kind: { type: 'string', check: nonEmpty }, flag: 'pause-image', doc: 'Image holding the pause binary.' },
      command: { kind: absolute, flag: 'pause-command', doc: 'Command run as the pod\'s infra process.' },
      cpuset: { kind: { type: 'string', check: cpuList }, flag: 'infra-cpuset', doc: 'CPUs the infra process is pinned to; empty: any.' },
    },
  },
  network: {
    doc: 'CNI networking.',
    keys: {
      cni_config_dir: { kind: absolute, flag: 'cni-config-dir', doc: 'Directory of .conf/.conflist files; the lexically first one is used.' },
      cni_plugin_dirs: { kind: { type: 'path[]' }, flag: 'cni-plugin-dir', repeatable: true, doc: 'Directories searched for CNI plugin binaries.' },
      cni_default_network: { kind: { type: 'string' }, flag: 'cni-default-network', doc: 'Network name to use; empty: the first config found.' },
    },
  },
  image: {
    doc: 'Image pulls and storage.',
    keys: {
      registries_conf: { kind: absolute, flag: 'registries-conf', doc: 'containers-registries.conf(5) file.' },
      registries_conf_dir: { kind: absolute, flag: 'registries-conf-dir', doc: 'Drop-in directory for registries.conf.' },
      signature_policy: { kind: absolute, flag: 'signature-policy', doc: 'containers-policy.json(5) trust policy.' },
      auth_file: { kind: { type: 'path', optional: true }, flag: 'auth-file', doc: 'containers-auth.json(5) credentials; empty: none.' },
      certs_dir: { kind: absolute, flag: 'registry-certs-dir', doc: 'Per-registry TLS material: DIR/HOST[:PORT]/*.crt, *.cert, *.key.' },
      max_concurrent_downloads: {
        kind: { type: 'integer', min: 1, max: 64 },
        flag: 'max-concurrent-downloads',
        doc: 'Layers of one image downloaded in parallel.',
      },
      max_layer_size: {
        kind: { type: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER },
        flag: 'max-layer-size',
        doc: 'Largest uncompressed layer accepted, in bytes (a guard against decompression bombs).',
      },
    },
  },
  streaming: {
    doc: 'Exec, attach and port-forward streaming server.',
    keys: {
      address: { kind: { type: 'string', check: nonEmpty }, flag: 'stream-address', doc: 'Address the streaming server binds.' },
      port: { kind: { type: 'integer', min: 0, max: 65535 }, flag: 'stream-port', doc: 'Port of the streaming server; 0: a free port.' },
    },
  },
  metrics: {
    doc: 'Prometheus metrics endpoint.',
    keys: {
      enable: { kind: { type: 'boolean' }, flag: 'enable-metrics', doc: 'Serve metrics.' },
      address: { kind: { type: 'string', check: nonEmpty }, flag: 'metrics-address', doc: 'Address the metrics endpoint binds.' },
      port: { kind: { type: 'integer', min: 0, max: 65535 }, flag: 'metrics-port', doc: 'Port of the metrics endpoint; 0: a free port.' },
    },
  },
};

export function defaultRuntimeHandler(): RuntimeHandlerConfig {
  return {
    runtime_path: '',
    runtime_root: '',
    runtime_type: 'oci',
    monitor_path: '',
    monitor_env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    allowed_annotations: [],
    privileged_without_host_devices: false,
  };
}

export function defaultConfig(): SkiffConfig {
  return {
    root: '/var/lib/skiff',
    runroot: '/run/skiff',
    listen: '/run/skiff/skiff.sock',
    log_level: 'info',
    cgroup_manager: 'cgroupfs',
    default_cgroup_parent: '/skiff',
    default_runtime: 'runc',
    exec_sync_output_max: execSyncOutputLimit,
    runtimes: { runc: defaultRuntimeHandler(), crun: defaultRuntimeHandler() },
    pause: { image: 'registry.k8s.io/pause:3.10', command: '/pause', cpuset: '' },
    network: { cni_config_dir: '/etc/cni/net.d', cni_plugin_dirs: ['/opt/cni/bin', '/usr/lib/cni'], cni_default_network: '' },
    image: {
      registries_conf: '/etc/containers/registries.conf',
      registries_conf_dir: '/etc/containers/registries.conf.d',
      signature_policy: '/etc/containers/policy.json',
      auth_file: '',
      certs_dir: '/etc/containers/certs.d',
      max_concurrent_downloads: 4,
      max_layer_size: 32 * 1024 ** 3,
    },
    streaming: { address: '127.0.0.1', port: 0 },
    metrics: { enable: false, address: '127.0.0.1', port: 9090 },
  };
}

function cgroupParentPath(v: string): string | undefined {
  return v === '' || v.split('/').includes('..') || /[\0\n:]/.test(v) ? 'a cgroup path such as "/skiff" or a slice such as "skiff.slice"' : undefined;
}

function nonEmpty(v: string): string | undefined {
  return v.length === 0 ? 'a non-empty string' : undefined;
}

function envEntry(v: string): string | undefined {
  return /^[^=\s]+=/.test(v) ? undefined : 'NAME=VALUE';
}

function cpuList(v: string): string | undefined {
  return v === '' || /^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v) ? undefined : 'a CPU list such as "0-1,3"';
}

/** Handler names become directory names and CRI runtime_handler values. */
export const runtimeHandlerName = /^[a-z0-9]([a-z0-9._-]{0,62})$/;
