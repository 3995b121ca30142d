// What an OCI runtime binary says it supports (`<runtime> features`, runc
// 1.1+): asked once per binary, since the kubelet polls Status every few
// seconds. A runtime without the command (crun 1.8) supports nothing extra.
import { runCommand } from '../process/command.js';

export interface RuntimeFeatures {
  /** The `rro` mount option: read-only applied to every submount too (mount_setattr). */
  recursiveReadOnlyMounts: boolean;
}

const none: RuntimeFeatures = { recursiveReadOnlyMounts: false };
const known = new Map<string, Promise<RuntimeFeatures>>();

export function runtimeFeatures(runtimePath: string): Promise<RuntimeFeatures> {
  let features = known.get(runtimePath);
  if (!features) {
    features = ask(runtimePath);
    known.set(runtimePath, features);
  }
  return features;
}

async function ask(runtimePath: string): Promise<RuntimeFeatures> {
  const res = await runCommand(runtimePath, ['features'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 10_000, maxOutput: 1024 * 1024 }).catch(() => undefined);
  if (!res || res.code !== 0) return none;
  return parseRuntimeFeatures(res.stdout);
}

/** The features from `<runtime> features` output (the OCI features document); none if it is not one. */
export function parseRuntimeFeatures(text: string): RuntimeFeatures {
  try {
    const doc = JSON.parse(text) as { mountOptions?: unknown };
    const options = Array.isArray(doc.mountOptions) ? doc.mountOptions : [];
    return { recursiveReadOnlyMounts: options.includes('rro') };
  } catch {
    return none;
  }
}
