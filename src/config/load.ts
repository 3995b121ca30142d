import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { describeTomlValue, dropInFiles, isTomlTable, parseTomlTable, readOptionalFile } from './config_files.js';
import {
  defaultConfig,
  defaultRuntimeHandler,
  runtimeHandlerName,
  runtimeHandlerSpec,
  sectionSpecs,
  topLevelSpec,
  type KeySpec,
  type SkiffConfig,
  type ValueKind,
} from './schema.js';

/** A configuration problem; the message names the source, the key and what was expected. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const configError = (message: string): ConfigError => new ConfigError(message);

export const systemConfigFile = '/etc/skiff/skiff.toml';
export const systemDropInDir = '/etc/skiff/skiff.d';

/** One flag occurrence, as given on the command line. */
export interface FlagSetting {
  flag: string;
  value: string | boolean;
}

export interface ConfigSources {
  /** Main file; skipped when missing. `''` skips it on purpose. */
  systemFile: string;
  /** Drop-in directory; `*.toml` files applied in lexical order. */
  dropInDir: string;
  /** `--config FILE`: must exist when given. */
  extraFile?: string;
  flags: FlagSetting[];
}

/** Defaults → system file → drop-ins → --config → flags, each validated as it is applied. */
export async function loadConfig(sources: ConfigSources): Promise<SkiffConfig> {
  const config = defaultConfig();
  const origins = new Map<string, string>();

  if (sources.systemFile !== '') {
    const text = await readOptionalFile(sources.systemFile, configError);
    if (text !== undefined) applyFile(config, origins, sources.systemFile, text);
  }
  for (const file of await dropInFiles(sources.dropInDir, '.toml', configError)) {
    applyFile(config, origins, file, await readFile(file, 'utf8'));
  }
  if (sources.extraFile !== undefined) {
    const text = await readOptionalFile(sources.extraFile, configError);
    if (text === undefined) throw new ConfigError(`${sources.extraFile}: config file not found`);
    applyFile(config, origins, sources.extraFile, text);
  }
  applyFlags(config, origins, sources.flags);
  checkWhole(config, origins);
  return config;
}

/** Validates a TOML document against the schema without other sources (used by tests and `skiff config --check`). */
export function parseConfigText(source: string, text: string): SkiffConfig {
  const config = defaultConfig();
  const origins = new Map<string, string>();
  applyFile(config, origins, source, text);
  checkWhole(config, origins);
  return config;
}

function applyFile(config: SkiffConfig, origins: Map<string, string>, file: string, text: string): void {
  const doc = parseTomlTable(file, text, (message) => new ConfigError(message));
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'runtimes') {
      applyRuntimes(config, origins, file, value);
    } else if (key in sectionSpecs) {
      const name = key as keyof typeof sectionSpecs;
      const table = expectTable(file, key, value);
      const section = config[name] as unknown as Record<string, unknown>;
      for (const [sub, subValue] of Object.entries(table)) {
        const spec = sectionSpecs[name].keys[sub];
        if (!spec) throw unknownKey(file, `${key}.${sub}`, Object.keys(sectionSpecs[name].keys));
        section[sub] = coerce(file, `${key}.${sub}`, spec.kind, subValue);
        origins.set(`${key}.${sub}`, file);
      }
    } else {
      const spec = topLevelSpec[key];
      if (!spec) throw unknownKey(file, key, [...Object.keys(topLevelSpec), 'runtimes', ...Object.keys(sectionSpecs)]);
      (config as unknown as Record<string, unknown>)[key] = coerce(file, key, spec.kind, value);
      origins.set(key, file);
    }
  }
}

function applyRuntimes(config: SkiffConfig, origins: Map<string, string>, file: string, value: unknown): void {
  for (const [name, handlerValue] of Object.entries(expectTable(file, 'runtimes', value))) {
    if (!runtimeHandlerName.test(name)) {
      throw new ConfigError(
        `${file}: key "runtimes.${name}": expected a handler name of lowercase letters, digits, '.', '_' or '-' (at most 63)`,
      );
    }
    const handler = (config.runtimes[name] ??= defaultRuntimeHandler()) as unknown as Record<string, unknown>;
    for (const [key, v] of Object.entries(expectTable(file, `runtimes.${name}`, handlerValue))) {
      const spec = (runtimeHandlerSpec as Record<string, KeySpec>)[key];
      if (!spec) throw unknownKey(file, `runtimes.${name}.${key}`, Object.keys(runtimeHandlerSpec));
      handler[key] = coerce(file, `runtimes.${name}.${key}`, spec.kind, v);
    }
    origins.set(`runtimes.${name}`, file);
  }
}

function applyFlags(config: SkiffConfig, origins: Map<string, string>, flags: FlagSetting[]): void {
  const byFlag = flagIndex();
  const repeated = new Set<string>();
  for (const { flag, value } of flags) {
    const source = `--${flag}`;
    if (flag === 'runtime') {
      applyRuntimeFlag(config, origins, String(value), repeated);
      continue;
    }
    const target = byFlag.get(flag);
    if (!target) throw new ConfigError(`${source}: unknown flag`);
    const parsed = coerce(source, target.path, target.spec.kind, fromFlag(target.spec.kind, value));
    const holder = target.section ? (config[target.section] as unknown as Record<string, unknown>) : (config as unknown as Record<string, unknown>);
    if (target.spec.repeatable) {
      // The first occurrence replaces the configured list; later ones append.
      const list = repeated.has(flag) ? (holder[target.key] as unknown[]) : [];
      repeated.add(flag);
      holder[target.key] = [...list, ...(parsed as unknown[])];
    } else {
      holder[target.key] = parsed;
    }
    origins.set(target.path, source);
  }
}

/** `--runtime NAME.KEY=VALUE`: one flag for every key of every handler table. */
function applyRuntimeFlag(config: SkiffConfig, origins: Map<string, string>, raw: string, repeated: Set<string>): void {
  const match = /^([^.=]+)\.([a-z_]+)=(.*)$/s.exec(raw);
  if (!match) throw new ConfigError(`--runtime: expected NAME.KEY=VALUE (e.g. kata.runtime_path=/usr/bin/kata-runtime), got "${raw}"`);
  const [, name, key, value] = match as unknown as [string, string, string, string];
  if (!runtimeHandlerName.test(name)) throw new ConfigError(`--runtime: "${name}" is not a valid handler name`);
  const spec = (runtimeHandlerSpec as Record<string, KeySpec>)[key];
  if (!spec) throw unknownKey('--runtime', `runtimes.${name}.${key}`, Object.keys(runtimeHandlerSpec));
  const handler = (config.runtimes[name] ??= defaultRuntimeHandler()) as unknown as Record<string, unknown>;
  const path = `runtimes.${name}.${key}`;
  const parsed = coerce('--runtime', path, spec.kind, fromFlag(spec.kind, value));
  if (Array.isArray(parsed)) {
    const list = repeated.has(path) ? (handler[key] as unknown[]) : [];
    repeated.add(path);
    handler[key] = [...list, ...parsed];
  } else {
    handler[key] = parsed;
  }
  origins.set(`runtimes.${name}`, '--runtime');
}

interface FlagTarget {
  path: string;
  section?: keyof typeof sectionSpecs;
  key: string;
  spec: KeySpec;
}

function flagIndex(): Map<string, FlagTarget> {
  const index = new Map<string, FlagTarget>();
  for (const [key, spec] of Object.entries(topLevelSpec)) {
    if (spec.flag) index.set(spec.flag, { path: key, key, spec });
  }
  for (const [section, { keys }] of Object.entries(sectionSpecs)) {
    for (const [key, spec] of Object.entries(keys)) {
      if (spec.flag) index.set(spec.flag, { path: `${section}.${key}`, section: section as keyof typeof sectionSpecs, key, spec });
    }
  }
  return index;
}

/** Flags arrive as text; turn them into the TOML value they stand for before the common check. */
function fromFlag(kind: ValueKind, value: string | boolean): unknown {
  if (typeof value === 'boolean') return value;
  switch (kind.type) {
    case 'integer':
      return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value;
    case 'string[]':
    case 'path[]':
      return [value];
    default:
      return value;
  }
}

function coerce(source: string, key: string, kind: ValueKind, value: unknown): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(`${source}: key "${key}": expected ${expected}, got ${describeTomlValue(value)}`);
  };
  switch (kind.type) {
    case 'string': {
      if (typeof value !== 'string') return fail('a string');
      const problem = kind.check?.(value);
      return problem ? fail(problem) : value;
    }
    case 'path':
      if (typeof value !== 'string') return fail('a path string');
      if (value === '' && kind.optional) return value;
      return isAbsolute(value) ? value : fail(kind.optional ? 'an absolute path or ""' : 'an absolute path');
    case 'socket': {
      if (typeof value !== 'string') return fail('a socket path string');
      const path = value.startsWith('unix://') ? value.slice('unix://'.length) : value;
      return isAbsolute(path) ? path : fail('an absolute socket path or unix:///path');
    }
    case 'integer':
      if (typeof value === 'bigint') value = Number(value);
      if (typeof value !== 'number' || !Number.isInteger(value)) return fail(`an integer from ${kind.min} to ${kind.max}`);
      return value >= kind.min && value <= kind.max ? value : fail(`an integer from ${kind.min} to ${kind.max}`);
    case 'boolean':
      return typeof value === 'boolean' ? value : fail('true or false');
    case 'enum':
      return typeof value === 'string' && kind.values.includes(value) ? value : fail(`one of ${kind.values.map((v) => `"${v}"`).join(', ')}`);
    case 'string[]': {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) return fail('an array of strings');
      for (const item of value as string[]) {
        const problem = kind.check?.(item);
        if (problem) fail(`every entry to be ${problem}`);
      }
      return value;
    }
    case 'path[]':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || !isAbsolute(v))) return fail('an array of absolute paths');
      return value;
  }
}

function checkWhole(config: SkiffConfig, origins: Map<string, string>): void {
  if (!config.runtimes[config.default_runtime]) {
    const source = origins.get('default_runtime') ?? 'defaults';
    throw new ConfigError(
      `${source}: key "default_runtime": expected one of the configured handlers (${Object.keys(config.runtimes).join(', ')}), got "${config.default_runtime}"`,
    );
  }
}

function expectTable(source: string, key: string, value: unknown): Record<string, unknown> {
  if (!isTomlTable(value)) throw new ConfigError(`${source}: key "${key}": expected a table ([${key}]), got ${describeTomlValue(value)}`);
  return value;
}

function unknownKey(source: string, key: string, known: string[]): ConfigError {
  return new ConfigError(`${source}: unknown key "${key}" (known here: ${known.join(', ')})`);
}

