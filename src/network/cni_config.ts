import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CniNetworkConfig {
  file: string;
  name: string;
  cniVersion: string;
  /** The plugin chain; a single-plugin .conf becomes a chain of one. */
  plugins: Record<string, unknown>[];
  /** The list asks runtimes never to run CHECK on it (`"disableCheck": true`, or the string "true" of spec 0.4.0). */
  disableCheck: boolean;
}

export type CniConfigLookup = { found: true; network: CniNetworkConfig } | { found: false; reason: string };

const configExtensions = ['.conf', '.conflist', '.json'];

/**
 * The network pods join: the lexically first valid config file in `dir`
 * (as the kubelet's dockershim and CRI-O choose), or the one named `preferred`.
 */
export async function findCniNetwork(dir: string, preferred = ''): Promise<CniConfigLookup> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    return { found: false, reason: `cannot read CNI config dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const files = names.filter((n) => configExtensions.some((ext) => n.endsWith(ext))).sort();
  const problems: string[] = [];
  for (const name of files) {
    const file = join(dir, name);
    const parsed = await parseCniConfig(file).catch((err: Error) => err);
    if (parsed instanceof Error) {
      problems.push(`${name}: ${parsed.message}`);
      continue;
    }
    if (preferred === '' || parsed.name === preferred) return { found: true, network: parsed };
  }
  const wanted = preferred ? `network "${preferred}"` : 'network config';
  const detail = problems.length ? ` (invalid: ${problems.join('; ')})` : '';
  return { found: false, reason: `no CNI ${wanted} found in ${dir}${detail}` };
}

async function parseCniConfig(file: string): Promise<CniNetworkConfig> {
  const text = await readFile(file, 'utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) throw new Error('not a JSON object');
  const conf = doc as Record<string, unknown>;
  if (typeof conf.name !== 'string' || conf.name === '') throw new Error('missing "name"');
  const cniVersion = typeof conf.cniVersion === 'string' ? conf.cniVersion : '';
  const disableCheck = conf.disableCheck === true || conf.disableCheck === 'true';
  if (file.endsWith('.conflist') || Array.isArray(conf.plugins)) {
    const plugins = conf.plugins;
    if (!Array.isArray(plugins) || plugins.length === 0) throw new Error('"plugins" must be a non-empty list');
    for (const [i, p] of plugins.entries()) {
      if (typeof p !== 'object' || p === null || typeof (p as Record<string, unknown>).type !== 'string') {
        throw new Error(`plugins[${i}] has no "type"`);
      }
    }
    return { file, name: conf.name, cniVersion, plugins: plugins as Record<string, unknown>[], disableCheck };
  }
  if (typeof conf.type !== 'string') throw new Error('missing "type"');
  return { file, name: conf.name, cniVersion, plugins: [conf], disableCheck };
}
