// The typed face of the Rust addon (crates/skiff-node). Nothing else loads it.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../package_info.js';

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

interface Addon {
  overlayMount(options: OverlayMountOptions): Promise<void>;
  overlayUnmount(target: string, options?: { detach?: boolean }): Promise<void>;
  dirUsage(path: string): Promise<DirUsage>;
  lockFile(path: string): Promise<number>;
  addonVersion(): string;
}

/** Where `npm run build:native` installs the addon. */
export const addonPath = join(packageRoot, 'build', 'skiff.node');

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
export const addonVersion = (): string => load().addonVersion();
