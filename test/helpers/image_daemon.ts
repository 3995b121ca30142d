import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scratchDir, startDaemon, type RunningDaemon } from './daemon.js';

export interface ImageDaemonOptions {
  /** Registry hosts reachable over plain HTTP (marked insecure in registries.conf). */
  insecure?: string[];
  /** More registries.conf text, appended. */
  registriesConf?: string;
  /** policy.json document; default accepts anything. */
  policy?: object;
  /** containers-auth.json document, if any. */
  authFile?: object;
  extraArgs?: string[];
}

export interface ImageDaemon extends RunningDaemon {
  dir: string;
  root: string;
  /** Chain-ID directories currently in the layer store. */
  layerDirs(): Promise<string[]>;
  /** Leftovers of interrupted work: staging dirs of the layer store. */
  stagingDirs(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export const acceptAnything = { default: [{ type: 'insecureAcceptAnything' }] };

/** A daemon with its own registries.conf, policy.json and (optionally) auth.json, for pull tests. */
export async function startImageDaemon(opts: ImageDaemonOptions = {}): Promise<ImageDaemon> {
  const scratch = await scratchDir('skiff-image-');
  const etc = join(scratch.dir, 'etc');
  await mkdir(join(etc, 'registries.conf.d'), { recursive: true });
  // Caller's text first: top-level keys must precede the [[registry]] tables.
  const conf = [opts.registriesConf ?? '', ...(opts.insecure ?? []).map((host) => `[[registry]]\nlocation = "${host}"\ninsecure = true\n`)].join('\n');
  await writeFile(join(etc, 'registries.conf'), conf);
  await writeFile(join(etc, 'policy.json'), JSON.stringify(opts.policy ?? acceptAnything));
  const args = [
    '--registries-conf', join(etc, 'registries.conf'),
    '--registries-conf-dir', join(etc, 'registries.conf.d'),
    '--signature-policy', join(etc, 'policy.json'),
    '--registry-certs-dir', join(etc, 'certs.d'),
  ];
  if (opts.authFile) {
    await writeFile(join(etc, 'auth.json'), JSON.stringify(opts.authFile));
    args.push('--auth-file', join(etc, 'auth.json'));
  }
  const daemon = await startDaemon(scratch.dir, [...args, ...(opts.extraArgs ?? [])]);
  const root = join(scratch.dir, 'root');
  return {
    ...daemon,
    dir: scratch.dir,
    root,
    layerDirs: () => readdir(join(root, 'overlay', 'layers')),
    stagingDirs: () => readdir(join(root, 'overlay', 'tmp')),
    cleanup: async () => {
      await daemon.stop();
      await scratch.cleanup();
    },
  };
}

/** Restarts a stopped image daemon on the same directories. */
export async function restartImageDaemon(previous: ImageDaemon, extraArgs: string[] = []): Promise<ImageDaemon> {
  previous.client.close();
  const etc = join(previous.dir, 'etc');
  const daemon = await startDaemon(previous.dir, [
    '--registries-conf', join(etc, 'registries.conf'),
    '--registries-conf-dir', join(etc, 'registries.conf.d'),
    '--signature-policy', join(etc, 'policy.json'),
    '--registry-certs-dir', join(etc, 'certs.d'),
    ...extraArgs,
  ]);
  return { ...previous, ...daemon, cleanup: async () => { await daemon.stop(); await previous.cleanup(); } };
}
