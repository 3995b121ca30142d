// The typed face of the Rust addon (crates/skiff-node). Nothing else loads it.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../package_info.js';

export interface WriteWholeFileOptions {
  /** Permission bits of a created file (umask applies); 0o600 unless given. */
  mode?: number;
  replace?: boolean;
  durable?: boolean;
  parentMode?: number;
}

export interface OverlayMountOptions {
  /** Lower layers, topmost first, as overlayfs orders them. */
  lowerdirs: string[];
  upperdir?: string;
  workdir?: string;
  target: string;
  readonly?: boolean;
  /** Extra overlay options such as "volatile". */
  options?: string[];
  /**
   * 'auto' (default) uses the new mount API where the kernel has `lowerdir+`
   * (6.8+) and mount(2) otherwise; the others force one path.
   */
  mountApi?: 'auto' | 'new' | 'legacy';
  /** Make upperdir, workdir and target (0755, one level each) when missing, on the mount's own thread. */
  makeDirs?: boolean;
}

export interface DirUsage {
  /** Allocated bytes (st_blocks * 512), hard links counted once. */
  bytes: number;
  inodes: number;
}

/**
 * Errors from the addon look like node's own system errors:
 * `code` ('EBUSY'), `errno` (positive), `syscall` ('mount'), `path`.
 */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

export interface LayerWriterOptions {
  /** Existing, empty directory to extract into; emptied again on any failure. */
  dir: string;
  compression: 'gzip' | 'zstd' | 'none';
  /** 'sha256:<hex>' (or sha512) of the compressed bytes as received. */
  expectedDigest?: string;
  /** 'sha256:<hex>' of the whole uncompressed tar stream. */
  expectedDiffId?: string;
  /** Refuse the layer (ERR_LAYER_TOO_LARGE) once the uncompressed stream exceeds this. */
  maxUncompressedBytes?: number;
  /** syncfs(2) the layer's filesystem before finish() resolves (default true). */
  sync?: boolean;
}

export interface LayerResult {
  /** Of the compressed bytes, e.g. 'sha256:...'. */
  digest: string;
  /** sha256 of the uncompressed tar stream. */
  diffId: string;
  compressedSize: number;
  uncompressedSize: number;
  /** Tar entries applied (whiteouts included). */
  entries: number;
}

/**
 * Streams one layer into its directory on a thread of its own: the
 * compressed bytes are hashed, decompressed, hashed again and extracted in
 * one pass.
 */
export interface LayerWriter {
  /**
   * Queues a chunk (copied). Resolves at once while less than 8 MiB is
   * queued, otherwise once the extraction thread has caught up: await it
   * before writing more. Rejects once extraction has failed.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Ends the input; resolves once everything is extracted, verified and synced. */
  finish(): Promise<LayerResult>;
  /** Stops and empties the directory; a no-op once the writer has ended. */
  abort(): Promise<void>;
}

export type LayerErrorCode =
  | 'ERR_LAYER_DIGEST_MISMATCH'
  | 'ERR_LAYER_DIFFID_MISMATCH'
  | 'ERR_LAYER_TRUNCATED'
  | 'ERR_LAYER_HOSTILE_ENTRY'
  | 'ERR_LAYER_TOO_LARGE'
  | 'ERR_LAYER_FORMAT'
  | 'ERR_LAYER_ABORTED'
  | 'ERR_STREAM_WRITE_AFTER_END';

/**
 * A refused layer: `code` is one of LayerErrorCode, or an errno name (then
 * `errno`, `syscall` and `path` are set as for NativeError). `entry` names
 * the tar entry at fault; digest mismatches carry `expected` and `actual`.
 */
export interface LayerError extends Error {
  code: LayerErrorCode | string;
  entry?: string;
  expected?: string;
  actual?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

export type NamespaceKind = 'net' | 'ipc' | 'uts';

export interface PinNamespacesOptions {
  /** Directory for the pinned files (`<dir>/<kind>`); created with mode 0700 when missing. */
  dir: string;
  /** The namespaces to create, each at most once. */
  kinds: NamespaceKind[];
  /** Set in the new UTS namespace ('uts' must be in kinds); 1 to 64 bytes. */
  hostname?: string;
  /**
   * Written inside the new namespaces, e.g. { 'net.ipv4.ip_unprivileged_port_start': '0' }.
   * Keys are dot-separated [A-Za-z0-9_-] names and must be namespaced sysctls
   * of a kind being created: net.* (net), kernel.shm*, kernel.msg*, kernel.sem,
   * fs.mqueue.* (ipc), kernel.hostname, kernel.domainname (uts).
   */
  sysctls?: Record<string, string>;
}

/** Paths of the pinned namespace files, one per kind asked for. */
export interface PinnedNamespaces {
  net?: string;
  ipc?: string;
  uts?: string;
}

export interface PtyPair {
  master: number;
  /** Raw mode, close-on-exec, nobody's controlling terminal. */
  slave: number;
}

export interface DialLoopbackOptions {
  /** A pinned network namespace file; absent: the host's namespace. */
  netns?: string;
  port: number;
  /** Default 10 s. */
  timeoutMs?: number;
}

/** Pipes whose output a thread of the addon reads under one byte budget. */
export interface OutputCapture {
  /** Write ends, for a child's stdio; close them once the child is spawned. */
  fds: number[];
  /** Close to stop reading early; must be closed in any case. */
  cancelFd: number;
  /** Settles when every pipe reached end of file, or on cancel. */
  done: Promise<{ outputs: Buffer[]; dropped: number }>;
}

/**
 * What one of a spawned child's fds is: /dev/null, a new stream socket, a
 * start pipe (a stream socket whose reader gets ECONNRESET, not EOF, should
 * our end close before we wrote to it), or a duplicate of one of ours.
 */
export type SpawnStdio = 'null' | 'pipe' | 'start' | number;

export interface SpawnChildOptions {
  /** The program's path, run as is (no PATH search; relative to `cwd`); also argv[0]. */
  file: string;
  /** argv[1..]. */
  args: string[];
  /** The child's whole environment, as 'KEY=value' entries. */
  env: string[];
  /** Default: the daemon's working directory. */
  cwd?: string;
  /**
   * Slot i becomes the child's fd i (1 to 16 slots); the child gets no other
   * fd. A number is an fd of ours, duplicated: we keep, and must close, it.
   */
  stdio: SpawnStdio[];
  /** setsid() in the child, so that it leads a session of its own. */
  newSession?: boolean;
  /** `exited` does not keep the event loop alive (a child that outlives the work it was started for). */
  unref?: boolean;
}

/** How a child ended: exactly one of the two is set. */
export interface ChildExit {
  code: number | null;
  /** The number of the signal that killed it. */
  signal: number | null;
}

export interface SpawnedChild {
  pid: number;
  /**
   * Per stdio slot: for 'pipe', our end of a SOCK_STREAM socketpair, for
   * `new net.Socket({ fd, readable: true, writable: true })` (end() shuts down
   * the writing side only, so a child's stdin can be closed while its output
   * still arrives); for 'start', the same but only ever written to (reading it
   * would take away what makes an unwritten close a reset); null for the
   * other slots. Ours to close.
   */
  fds: (number | null)[];
  /**
   * Settles once the child has exited, reaping it. Until then the pid stays
   * ours (a zombie at worst), so process.kill(pid) cannot hit another
   * process; after it, the pid may be reused. Keeps the event loop alive
   * unless `unref` was given. One addon thread waits for every child.
   */
  exited: Promise<ChildExit>;
}

export interface RunProgramOptions {
  /** The program's path, run as is (no PATH search; relative to `cwd`); also argv[0]. */
  file: string;
  /** argv[1..]. */
  args: string[];
  /** The child's whole environment, as 'KEY=value' entries. */
  env: string[];
  /** Default: the daemon's working directory. */
  cwd?: string;
  /** Written to stdin (a string as UTF-8), which is then closed; absent: stdin is /dev/null. */
  input?: Buffer | Uint8Array | string;
  /** From the start; then the child gets SIGKILL (and `timedOut` is set). */
  timeoutMs: number;
  /** Bytes kept of stdout and of stderr each; the rest is read and dropped, so the child never blocks on a full pipe. */
  maxOutput: number;
  /** setsid: the child leads its own process group, and the timeout kills the whole group. */
  newSession?: boolean;
}

/** A finished run: exactly one of code and signal is set. */
export interface ProgramRun {
  code: number | null;
  /** The number of the signal that killed it. */
  signal: number | null;
  stdout: Buffer;
  stderr: Buffer;
  /** Bytes beyond `maxOutput`, both streams together. */
  dropped: number;
  stdoutDropped: number;
  stderrDropped: number;
  timedOut: boolean;
}

interface Addon {
  overlayMount(options: OverlayMountOptions): Promise<void>;
  overlayUnmount(target: string, options?: { detach?: boolean }): Promise<void>;
  dirUsage(path: string): Promise<DirUsage>;
  lockFile(path: string): Promise<number>;
  createLayerWriter(options: LayerWriterOptions): LayerWriter;
  removeTree(path: string): Promise<void>;
  pinNamespaces(options: PinNamespacesOptions): Promise<PinnedNamespaces>;
  unpinNamespaces(paths: string[]): Promise<void>;
  isNamespacePinned(path: string): Promise<boolean>;
  writeWholeFile(path: string, data: string | Uint8Array, options?: WriteWholeFileOptions): Promise<void>;
  readFileInRoot(root: string, path: string, maxBytes: number): Promise<Buffer | undefined>;
  mkdirInRoot(root: string, path: string, mode?: number): Promise<string>;
  createFileInRoot(root: string, path: string, dirMode?: number, fileMode?: number): Promise<string>;
  openPty(): Promise<PtyPair>;
  setTerminalSize(fd: number, columns: number, rows: number): void;
  connectSeqpacket(path: string): Promise<number>;
  bridgeFd(fd: number, framing: 'bytes' | 'packets'): number;
  dialLoopback(options: DialLoopbackOptions): Promise<number>;
  captureOutput(count: number, maxBytes: number): OutputCapture;
  spawnChild(options: SpawnChildOptions): Promise<SpawnedChild>;
  runProgram(options: RunProgramOptions): Promise<ProgramRun>;
  addonVersion(): string;
}

/** Where `npm run build:native` installs the addon. */
export const addonPath = join(packageRoot, 'build', 'skiff.node');
/** Where `npm run build:native` installs the static pause binary (the infra process of PID-sharing pods). */
export const pauseBinaryPath = join(packageRoot, 'build', 'pause');

let addon: Addon | undefined;

function load(): Addon {
  addon ??= createRequire(import.meta.url)(addonPath) as Addon;
  return addon;
}

export function isNativeError(err: unknown): err is NativeError {
  return err instanceof Error && typeof (err as Partial<NativeError>).errno === 'number';
}

export const overlayMount = (options: OverlayMountOptions): Promise<void> => load().overlayMount(options);
export const overlayUnmount = (target: string, options?: { detach?: boolean }): Promise<void> =>
  load().overlayUnmount(target, options);
export const dirUsage = (path: string): Promise<DirUsage> => load().dirUsage(path);
/** Takes an exclusive flock on `path`, held (by the returned fd) until the process exits. */
export const lockFile = (path: string): Promise<number> => load().lockFile(path);
/** Starts extracting a layer into `options.dir` (see LayerWriter). */
export const createLayerWriter = (options: LayerWriterOptions): LayerWriter => load().createLayerWriter(options);
/** Deletes a tree without following symlinks; rejects with EXDEV at a mount point inside it. */
export const removeTree = (path: string): Promise<void> => load().removeTree(path);
/**
 * Creates new network/IPC/UTS namespaces and pins each by a bind mount at
 * `<dir>/<kind>`, on a short-lived thread of the addon: `lo` comes up in the
 * new netns, the hostname and sysctls are set inside. Bad options throw
 * (ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE); kernel failures reject with a
 * NativeError naming the call (unshare, sethostname, ioctl, open/write of
 * /proc/sys/..., mount) and path, and leave nothing pinned. EEXIST (syscall
 * 'mount') when a namespace is already pinned at one of the paths.
 */
export const pinNamespaces = (options: PinNamespacesOptions): Promise<PinnedNamespaces> =>
  load().pinNamespaces(options);
/**
 * Unmounts (MNT_DETACH, nsfs mounts only) and removes pinned namespace files.
 * Idempotent: missing or unmounted paths are fine. Rejects with the first
 * failure (syscall 'umount2' or 'unlink') after trying every path.
 */
export const unpinNamespaces = (paths: string[]): Promise<void> => load().unpinNamespaces(paths);
/** Whether a namespace is pinned at `path` (an nsfs mount); false when it does not exist. */
export const isNamespacePinned = (path: string): Promise<boolean> => load().isNamespacePinned(path);
/**
 * Writes the whole of `data` to `path` in one trip to an addon thread (Node's
 * fs takes one per system call): in place, or as a sibling renamed over it
 * (`replace`: readers and crashes see the old file or the new, never a torn
 * one), and with `durable` flushed to disk, name included, before it
 * resolves. `parentMode` makes a missing parent directory (one level).
 * Rejects with a NativeError naming the failed call and path.
 */
export const writeWholeFile = (path: string, data: string | Uint8Array, options?: WriteWholeFileOptions): Promise<void> =>
  load().writeWholeFile(path, data, options);
/**
 * Reads `path` resolved inside `root` as if `root` were `/` (openat2
 * RESOLVE_IN_ROOT): symlinks are followed but never leave the root, magic
 * links are refused (ELOOP). Resolves undefined when it does not exist
 * (ENOENT/ENOTDIR); rejects with EFBIG (syscall 'read') beyond `maxBytes`,
 * EISDIR for a directory, EINVAL (syscall 'open') for any other non-regular
 * file, which is never opened.
 */
export const readFileInRoot = (root: string, path: string, maxBytes: number): Promise<Buffer | undefined> =>
  load().readFileInRoot(root, path, maxBytes);
/**
 * mkdir -p of `path` inside `root` (every component resolved in the root;
 * `..` and absolute symlinks stay inside). New directories get exactly `mode`
 * (default 0o755). Resolves with the host path of the directory. EEXIST
 * (syscall 'mkdirat') when a symlink to something missing is in the way,
 * ENOTDIR when a file is.
 */
export const mkdirInRoot = (root: string, path: string, mode?: number): Promise<string> =>
  load().mkdirInRoot(root, path, mode);
/**
 * Creates the regular file `path` inside `root` (or opens it, unchanged, if
 * there), its directories as mkdirInRoot makes them (`dirMode`, default
 * 0o755), a new file with exactly `fileMode` (default 0o600). The last name
 * is never followed: ELOOP for a symlink, EISDIR for a directory, EINVAL
 * for anything else not a regular file. Resolves with the file's host path.
 */
export const createFileInRoot = (root: string, path: string, dirMode?: number, fileMode?: number): Promise<string> =>
  load().createFileInRoot(root, path, dirMode, fileMode);
/** A new pseudo-terminal pair; JS owns (and must close) both fds. */
export const openPty = (): Promise<PtyPair> => load().openPty();
/** TIOCSWINSZ on a terminal fd (instant: runs on the calling thread). */
export const setTerminalSize = (fd: number, columns: number, rows: number): void => load().setTerminalSize(fd, columns, rows);
/**
 * Connects a SOCK_SEQPACKET socket (conmon's attach socket), reaching paths
 * beyond sun_path's 108 bytes through /proc/self/fd. Resolves with its fd.
 */
export const connectSeqpacket = (path: string): Promise<number> => load().connectSeqpacket(path);
/**
 * Relays a duplicate of `fd` onto a new SOCK_STREAM socket, on a thread of
 * the addon, and returns that socket's fd for `new net.Socket({ fd })`.
 * 'bytes': both ways unchanged (a pty master). 'packets' (a SEQPACKET
 * socket): each packet arrives as a 4-byte big-endian length and the packet;
 * written bytes leave as packets of at most 8 KiB; ending the socket's
 * output shuts down the target's write side. The relay ends when the target
 * reaches end of file (the socket then ends) or the socket is destroyed.
 * The caller still owns, and must close, `fd`.
 */
export const bridgeFd = (fd: number, framing: 'bytes' | 'packets'): number => load().bridgeFd(fd, framing);
/**
 * Connects to 127.0.0.1:port (then [::1]:port if refused) inside a pinned
 * network namespace, on a short-lived addon thread that alone enters it.
 * Resolves with a non-blocking TCP socket fd; rejects with ECONNREFUSED or
 * ETIMEDOUT (syscall 'connect'), or ENOENT (syscall 'open') for a missing
 * namespace file.
 */
export const dialLoopback = (options: DialLoopbackOptions): Promise<number> => load().dialLoopback(options);
/**
 * `count` pipes read to the end on an addon thread: the first `maxBytes`
 * of their output (all pipes together, in arrival order) are kept, the rest
 * is read and dropped, so memory stays bounded and the writer never blocks.
 */
export const captureOutput = (count: number, maxBytes: number): OutputCapture => load().captureOutput(count, maxBytes);
/**
 * Starts a child with posix_spawn on an addon thread. child_process.spawn
 * forks the whole daemon on the event loop, which stalls it for longer the
 * more memory the daemon holds (page tables are copied); posix_spawn's cost
 * does not depend on our size, and none of it lands on the loop. The child
 * starts with an empty signal mask and every signal at its default (Node
 * ignores SIGPIPE; that is not passed on). Bad options throw (TypeError, or
 * RangeError for a bad number of slots or fd); a failed start rejects with a
 * NativeError from 'posix_spawn' (ENOENT, EACCES, ENOEXEC...; also what chdir
 * to `cwd` met) whose path is `file`, or EBADF (syscall 'fcntl') for an fd
 * slot that is not open.
 */
export const spawnChild = (options: SpawnChildOptions): Promise<SpawnedChild> => load().spawnChild(options);
/**
 * Runs a short-lived program to the end on one addon thread: posix_spawn
 * (as spawnChild), `input` written, stdout and stderr collected, SIGKILL at
 * `timeoutMs`, the reap, and one promise settled. The stages of a
 * spawnChild run (spawn, exit wait, each stream's end, a grace timer) each
 * wake the event loop, and on an idle machine every wake-up has its price;
 * this wakes it once. Resolves once the child is reaped and both
 * outputs ended, or 1 s after its exit while a grandchild still holds them
 * (`runc create` hands its stdio to the container). A child that exits
 * without reading its input is no error. Rejects when the program cannot
 * be started, as spawnChild does (or, should poll or waitpid fail, with
 * that error, the child killed and reaped first); bad options throw
 * (TypeError, or RangeError for a negative or fractional number).
 */
export const runProgram = (options: RunProgramOptions): Promise<ProgramRun> => load().runProgram(options);
export const addonVersion = (): string => load().addonVersion();
