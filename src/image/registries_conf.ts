/**
 * containers-registries.conf(5), version 2: where images are really pulled
 * from (prefix rewrites, mirrors), which registries are insecure or blocked,
 * and how short names are completed. Drop-ins in registries.conf.d merge the
 * way containers/image merges them, so a host's existing files mean the same
 * thing to skiff as to podman and CRI-O.
 */
import { describeTomlValue, dropInFiles, isTomlTable, parseTomlTable, readOptionalFile } from '../config/config_files.js';
import {
  dockerHubDomain,
  domainProblem,
  formatReference,
  InvalidReferenceError,
  isShortName,
  parseReference,
  qualifyShortName,
  repositoryName,
  splitShortName,
  type ImageReference,
} from './reference.js';

/** A registries.conf problem; the message names the file, the key and what was expected. */
export class RegistriesConfError extends Error {
  override name = 'RegistriesConfError';
}

/** The image matches a `blocked = true` entry: neither it nor its mirrors may be contacted. */
const confError = (message: string): RegistriesConfError => new RegistriesConfError(message);

export class BlockedRegistryError extends Error {
  override name = 'BlockedRegistryError';
  constructor(
    readonly reference: string,
    readonly prefix: string,
    readonly source: string,
  ) {
    super(`pulling ${reference} is blocked: registry "${prefix}" has blocked = true in ${source}`);
  }
}

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';
export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

export interface RegistryMirror {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface RegistryEntry {
  /** Image names this entry governs: `host[:port][/namespace...][:tag|@digest]` or `*.example.com`. */
  prefix: string;
  /** Where the prefix really lives; '' only with a wildcard prefix, meaning "the name as is". */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: RegistryMirror[];
  /** The file that defined the entry, for messages. */
  source: string;
}

export interface RegistriesConf {
  /** `host[:port]` entries tried in order for short names. */
  unqualifiedSearchRegistries: string[];
  /** The file that set the search list; '' when none did. */
  unqualifiedSearchRegistriesSource: string;
  /** One entry per prefix, sorted by prefix. */
  registries: RegistryEntry[];
  /** Stored for callers; a daemon has no terminal to prompt on, so it does not change resolution here. */
  shortNameMode: ShortNameMode;
  /** Short name as written ("busybox") → repository ("docker.io/library/busybox"). */
  aliases: Map<string, string>;
  credentialHelpers: string[];
  additionalLayerStoreAuthHelper: string;
  /** Files read, in order. */
  sources: string[];
}

/** One place to pull an image from, tried in the order `pullSources` returns them. */
export interface PullSource {
  /** The image name at this source, after prefix → location rewriting. */
  reference: ImageReference;
  /** `host[:port]` to contact (Docker Hub's API host for docker.io). */
  endpoint: string;
  insecure: boolean;
  mirror: boolean;
}

/** The host that serves the registry API for `domain`: Docker Hub's name is not its API host. */
export function registryApiHost(domain: string): string {
  return domain === dockerHubDomain ? dockerHubApiHost : domain;
}

export const dockerHubApiHost = 'registry-1.docker.io';

/** containers/image's default when no file names credential helpers. */
const authFileHelper = 'containers-auth.json';
const pullFromMirrorValues: readonly PullFromMirror[] = ['all', 'digest-only', 'tag-only'];
const shortNameModes: readonly ShortNameMode[] = ['enforcing', 'permissive', 'disabled'];

const topLevelKeys = [
  'unqualified-search-registries',
  'registry',
  'short-name-mode',
  'aliases',
  'credential-helpers',
  'additional-layer-store-auth-helper',
];
const registryKeys = ['prefix', 'location', 'insecure', 'blocked', 'mirror-by-digest-only', 'mirror'];
const mirrorKeys = ['location', 'insecure', 'pull-from-mirror'];

/** What one file says; unset fields leave earlier files' values alone when merged. */
interface ConfFragment {
  source: string;
  registries: RegistryEntry[];
  unqualifiedSearchRegistries?: string[];
  shortNameMode?: ShortNameMode;
  /** `undefined` value: the file resets (erases) the alias with `name = ""`. */
  aliases: Map<string, string | undefined>;
  credentialHelpers?: string[];
  additionalLayerStoreAuthHelper?: string;
}

/**
 * The main file (skipped when missing), then `dropInDir/*.conf` in lexical
 * order: a drop-in's `[[registry]]` replaces an earlier one with the same
 * prefix, its lists and modes replace earlier ones when set, aliases merge
 * name by name.
 */
export async function loadRegistriesConf(file: string, dropInDir: string): Promise<RegistriesConf> {
  const conf = emptyConf();
  const main = await readOptionalFile(file, confError);
  if (main !== undefined) mergeFragment(conf, parseFragment(file, main));
  for (const dropIn of await dropInFiles(dropInDir, '.conf', confError)) {
    const text = await readOptionalFile(dropIn, confError);
    // A file removed between listing and reading is an ordinary race, not an error.
    if (text !== undefined) mergeFragment(conf, parseFragment(dropIn, text));
  }
  return conf;
}

/** One document on its own (tests, `skiff config --check`). */
export function parseRegistriesConf(source: string, text: string): RegistriesConf {
  const conf = emptyConf();
  mergeFragment(conf, parseFragment(source, text));
  return conf;
}

/** The entry with the longest prefix matching `ref`, or undefined. */
export function matchingRegistry(conf: RegistriesConf, ref: ImageReference): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  for (const entry of conf.registries) {
    if (prefixMatchLength(entry.prefix, ref) === undefined) continue;
    // Longer prefix wins; at equal length an exact host beats a wildcard.
    if (
      best === undefined ||
      entry.prefix.length > best.prefix.length ||
      (entry.prefix.length === best.prefix.length && isWildcard(best.prefix) && !isWildcard(entry.prefix))
    ) {
      best = entry;
    }
  }
  return best;
}

/**
 * Where to pull `ref` from, in order: the matching entry's mirrors that accept
 * this kind of reference (by digest or by tag), then the primary location.
 * Throws BlockedRegistryError when the entry is blocked.
 */
export function pullSources(conf: RegistriesConf, ref: ImageReference): PullSource[] {
  const entry = matchingRegistry(conf, ref);
  if (!entry) return [{ reference: ref, endpoint: registryApiHost(ref.domain), insecure: false, mirror: false }];
  if (entry.blocked) throw new BlockedRegistryError(formatReference(ref), entry.prefix, entry.source);

  const byDigest = ref.digest !== undefined;
  const sources: PullSource[] = [];
  for (const mirror of entry.mirrors) {
    if (entry.mirrorByDigestOnly && !byDigest) continue;
    if (mirror.pullFromMirror === 'digest-only' && !byDigest) continue;
    if (mirror.pullFromMirror === 'tag-only' && byDigest) continue;
    sources.push(sourceAt(entry, mirror.location, mirror.insecure, true, ref));
  }
  sources.push(sourceAt(entry, entry.location, entry.insecure, false, ref));
  return sources;
}

/**
 * The fully-qualified names to try for `input`, in order. A name that already
 * names a registry is returned alone. A short name with an alias resolves to
 * the alias only (aliases exist to remove the ambiguity of searching); otherwise
 * it is completed with each unqualified-search registry, or with docker.io when
 * none is configured, as docker and containerd do, so `busybox` works for the
 * kubelet on hosts without a registries.conf.
 */
export function unqualifiedCandidates(conf: RegistriesConf, input: string): ImageReference[] {
  if (!isShortName(input)) return [parseReference(input)];
  const { name, tag, digest } = splitShortName(input);
  const alias = conf.aliases.get(name);
  if (alias !== undefined) {
    return [parseReference(`${alias}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`)];
  }
  const registries = conf.unqualifiedSearchRegistries.length > 0 ? conf.unqualifiedSearchRegistries : [dockerHubDomain];
  return registries.map((registry) => qualifyShortName(input, registry));
}

function emptyConf(): RegistriesConf {
  return {
    unqualifiedSearchRegistries: [],
    unqualifiedSearchRegistriesSource: '',
    registries: [],
    shortNameMode: 'permissive',
    aliases: new Map(),
    credentialHelpers: [authFileHelper],
    additionalLayerStoreAuthHelper: '',
    sources: [],
  };
}

function mergeFragment(conf: RegistriesConf, fragment: ConfFragment): void {
  conf.sources.push(fragment.source);
  const byPrefix = new Map(conf.registries.map((entry) => [entry.prefix, entry]));
  for (const entry of fragment.registries) byPrefix.set(entry.prefix, entry);
  // Sorted like containers/image, so logs and `skiff config` show a stable order.
  conf.registries = [...byPrefix.keys()].sort().map((prefix) => byPrefix.get(prefix) as RegistryEntry);

  if (fragment.unqualifiedSearchRegistries !== undefined) {
    conf.unqualifiedSearchRegistries = fragment.unqualifiedSearchRegistries;
    conf.unqualifiedSearchRegistriesSource = fragment.source;
  }
  if (fragment.shortNameMode !== undefined) conf.shortNameMode = fragment.shortNameMode;
  if (fragment.credentialHelpers !== undefined) {
    conf.credentialHelpers = fragment.credentialHelpers.length > 0 ? fragment.credentialHelpers : [authFileHelper];
  }
  if (fragment.additionalLayerStoreAuthHelper) conf.additionalLayerStoreAuthHelper = fragment.additionalLayerStoreAuthHelper;
  for (const [name, value] of fragment.aliases) {
    if (value === undefined) conf.aliases.delete(name);
    else conf.aliases.set(name, value);
  }
}

function parseFragment(source: string, text: string): ConfFragment {
  const doc = parseTomlTable(source, text, (message) => new RegistriesConfError(message));
  if ('registries' in doc) {
    throw new RegistriesConfError(
      `${source}: the version 1 format ([registries.search], [registries.insecure], [registries.block]) is not supported; ` +
        'use version 2: unqualified-search-registries = [...] and [[registry]] tables with location, insecure, blocked',
    );
  }
  const check = new Checker(source);
  check.knownKeys('', doc, topLevelKeys);

  const fragment: ConfFragment = { source, registries: [], aliases: new Map() };
  if (doc['unqualified-search-registries'] !== undefined) {
    fragment.unqualifiedSearchRegistries = check
      .stringArray('unqualified-search-registries', doc['unqualified-search-registries'])
      .map((entry, i) => searchRegistry(check, `unqualified-search-registries[${i}]`, entry));
  }
  if (doc['short-name-mode'] !== undefined) {
    fragment.shortNameMode = check.oneOf('short-name-mode', doc['short-name-mode'], shortNameModes);
  }
  if (doc['credential-helpers'] !== undefined) {
    fragment.credentialHelpers = check.stringArray('credential-helpers', doc['credential-helpers']);
  }
  if (doc['additional-layer-store-auth-helper'] !== undefined) {
    fragment.additionalLayerStoreAuthHelper = check.string('additional-layer-store-auth-helper', doc['additional-layer-store-auth-helper']);
  }
  if (doc.aliases !== undefined) {
    for (const [name, value] of Object.entries(check.table('aliases', doc.aliases))) {
      fragment.aliases.set(name, alias(check, name, check.string(`aliases.${name}`, value)));
    }
  }
  if (doc.registry !== undefined) {
    const seen = new Set<string>();
    for (const [i, value] of check.tableArray('registry', doc.registry).entries()) {
      const entry = registryEntry(check, `registry[${i}]`, value);
      // containers/image keeps the first of two entries with one prefix; so do we.
      if (seen.has(entry.prefix)) continue;
      seen.add(entry.prefix);
      fragment.registries.push(entry);
    }
    checkConflicts(source, fragment.registries);
  }
  return fragment;
}

function registryEntry(check: Checker, key: string, table: Record<string, unknown>): RegistryEntry {
  if ('pull-from-mirror' in table) {
    throw new RegistriesConfError(`${check.source}: key "${key}.pull-from-mirror": only allowed in [[registry.mirror]] tables`);
  }
  check.knownKeys(key, table, registryKeys);
  const location = table.location === undefined ? '' : locationValue(check, `${key}.location`, table.location);
  let prefix: string;
  if (table.prefix === undefined || table.prefix === '') {
    if (location === '') throw new RegistriesConfError(`${check.source}: key "${key}": needs a location or a prefix`);
    prefix = location;
  } else {
    prefix = prefixValue(check, `${key}.prefix`, table.prefix);
    if (location === '' && !isWildcard(prefix)) {
      throw new RegistriesConfError(`${check.source}: key "${key}.location": required unless the prefix is a wildcard (*.example.com)`);
    }
  }
  const mirrorByDigestOnly = table['mirror-by-digest-only'] === undefined ? false : check.boolean(`${key}.mirror-by-digest-only`, table['mirror-by-digest-only']);
  const mirrors: RegistryMirror[] = [];
  if (table.mirror !== undefined) {
    for (const [j, mirrorTable] of check.tableArray(`${key}.mirror`, table.mirror).entries()) {
      const mirrorKey = `${key}.mirror[${j}]`;
      check.knownKeys(mirrorKey, mirrorTable, mirrorKeys);
      if (mirrorTable.location === undefined || mirrorTable.location === '') {
        throw new RegistriesConfError(`${check.source}: key "${mirrorKey}.location": required`);
      }
      const pullFromMirror = mirrorTable['pull-from-mirror'] ?? '';
      if (mirrorByDigestOnly && pullFromMirror !== '') {
        throw new RegistriesConfError(
          `${check.source}: key "${mirrorKey}.pull-from-mirror": not allowed together with mirror-by-digest-only on the registry`,
        );
      }
      mirrors.push({
        location: locationValue(check, `${mirrorKey}.location`, mirrorTable.location),
        insecure: mirrorTable.insecure === undefined ? false : check.boolean(`${mirrorKey}.insecure`, mirrorTable.insecure),
        pullFromMirror: pullFromMirror === '' ? 'all' : check.oneOf(`${mirrorKey}.pull-from-mirror`, pullFromMirror, pullFromMirrorValues),
      });
    }
  }
  return {
    prefix,
    location,
    insecure: table.insecure === undefined ? false : check.boolean(`${key}.insecure`, table.insecure),
    blocked: table.blocked === undefined ? false : check.boolean(`${key}.blocked`, table.blocked),
    mirrorByDigestOnly,
    mirrors,
    source: check.source,
  };
}

/** Several entries for one location (different prefixes) must agree on whether it is insecure or blocked. */
function checkConflicts(source: string, entries: RegistryEntry[]): void {
  const first = new Map<string, RegistryEntry>();
  for (const entry of entries) {
    const place = entry.location || entry.prefix;
    const earlier = first.get(place);
    if (!earlier) {
      first.set(place, entry);
      continue;
    }
    for (const setting of ['insecure', 'blocked'] as const) {
      if (earlier[setting] !== entry[setting]) {
        throw new RegistriesConfError(
          `${source}: registry "${place}" is defined more than once (prefixes "${earlier.prefix}" and "${entry.prefix}") with different "${setting}" settings`,
        );
      }
    }
  }
}

/** `host[:port][/path][:tag|@digest]`, trailing '/' dropped, no URL scheme. */
function locationValue(check: Checker, key: string, value: unknown): string {
  const location = withoutTrailingSlash(check, key, check.string(key, value));
  if (location === '') return location;
  const slash = location.indexOf('/');
  const host = slash === -1 ? location : location.slice(0, slash);
  const problem = domainProblem(host);
  if (problem) check.fail(key, `a registry host[:port] at the start (${problem})`, value);
  if (isShortName(`${host}/x`)) {
    check.fail(key, 'a registry host at the start: one containing "." or ":", or localhost', value);
  }
  if (slash !== -1) {
    try {
      parseReference(location);
    } catch (err) {
      if (!(err instanceof InvalidReferenceError)) throw err;
      check.fail(key, `host[:port]/namespace... (${err.problem})`, value);
    }
  }
  return location;
}

function prefixValue(check: Checker, key: string, value: unknown): string {
  const prefix = withoutTrailingSlash(check, key, check.string(key, value));
  if (!prefix.startsWith('*')) return locationValue(check, key, prefix);
  const host = prefix.slice(2);
  if (!prefix.startsWith('*.') || /[/:@*]/.test(host) || domainProblem(host) !== undefined) {
    check.fail(key, 'a wildcard of the form *.example.com (no port, path, tag or digest)', value);
  }
  return prefix;
}

function withoutTrailingSlash(check: Checker, key: string, value: string): string {
  if (/^https?:\/\//.test(value)) check.fail(key, 'host[:port][/path] without a URL scheme', value);
  return value.replace(/\/+$/, '');
}

function searchRegistry(check: Checker, key: string, value: string): string {
  const registry = withoutTrailingSlash(check, key, value);
  const problem = domainProblem(registry);
  if (problem) check.fail(key, `a registry host[:port] (${problem})`, value);
  return registry;
}

/** `name = "host/repository"`; `""` erases an alias set by an earlier file. */
function alias(check: Checker, name: string, value: string): string | undefined {
  const key = `aliases.${name}`;
  let problem: string | undefined;
  try {
    const short = splitShortName(name);
    if (short.tag !== undefined || short.digest !== undefined) problem = 'it must not carry a tag or digest';
  } catch (err) {
    if (!(err instanceof InvalidReferenceError)) throw err;
    problem = err.problem;
  }
  if (problem) throw new RegistriesConfError(`${check.source}: key "${key}": the alias name must be a short name: ${problem}`);
  if (value === '') return undefined;

  const expected = 'a fully-qualified repository (registry/name) without tag or digest';
  const lastComponent = value.slice(value.lastIndexOf('/') + 1);
  if (isShortName(value) || value.includes('@') || lastComponent.includes(':')) check.fail(key, expected, value);
  try {
    return repositoryName(parseReference(value));
  } catch (err) {
    if (!(err instanceof InvalidReferenceError)) throw err;
    return check.fail(key, `${expected} (${err.problem})`, value);
  }
}

function isWildcard(prefix: string): boolean {
  return prefix.startsWith('*.');
}

/**
 * How much of `formatReference(ref)` the prefix covers, or undefined when it
 * does not match. A prefix matches at a component boundary only:
 * `example.com/foo` matches `example.com/foo/bar` but not `example.com/foobar`,
 * and `example.com` does not match `example.com:5000/x`. `*.example.com`
 * matches any subdomain's host (whatever the port), never example.com itself.
 */
function prefixMatchLength(prefix: string, ref: ImageReference): number | undefined {
  if (isWildcard(prefix)) return hostOf(ref.domain).endsWith(prefix.slice(1)) ? ref.domain.length : undefined;
  const text = formatReference(ref);
  if (!text.startsWith(prefix)) return undefined;
  if (text.length === prefix.length) return prefix.length;
  const next = text[prefix.length];
  const coversName = prefix.length >= repositoryName(ref).length;
  if (next === '/' && !coversName) return prefix.length;
  if ((next === ':' || next === '@') && coversName) return prefix.length;
  return undefined;
}

function hostOf(domain: string): string {
  if (domain.startsWith('[')) return domain.slice(0, domain.indexOf(']') + 1);
  const colon = domain.lastIndexOf(':');
  return colon === -1 ? domain : domain.slice(0, colon);
}

function sourceAt(entry: RegistryEntry, location: string, insecure: boolean, mirror: boolean, ref: ImageReference): PullSource {
  let reference = ref;
  if (location !== '') {
    const matched = prefixMatchLength(entry.prefix, ref) as number;
    const rewritten = location + formatReference(ref).slice(matched);
    const problem = `${entry.source}: registry "${entry.prefix}": rewriting ${formatReference(ref)} to location "${location}"`;
    // "host@digest" would otherwise read as a Docker Hub name.
    if (isShortName(rewritten)) throw new RegistriesConfError(`${problem} leaves no repository name`);
    try {
      reference = parseReference(rewritten);
    } catch (err) {
      if (!(err instanceof InvalidReferenceError)) throw err;
      throw new RegistriesConfError(`${problem} gives an invalid reference: ${err.problem}`);
    }
  }
  return { reference, endpoint: registryApiHost(reference.domain), insecure, mirror };
}

/** Type checks for one file's values; every failure names the file and the key. */
class Checker {
  constructor(readonly source: string) {}

  fail(key: string, expected: string, value: unknown): never {
    throw new RegistriesConfError(`${this.source}: key "${key}": expected ${expected}, got ${describeTomlValue(value)}`);
  }

  knownKeys(at: string, table: Record<string, unknown>, known: string[]): void {
    for (const key of Object.keys(table)) {
      if (!known.includes(key)) {
        const path = at === '' ? key : `${at}.${key}`;
        throw new RegistriesConfError(`${this.source}: unknown key "${path}" (known here: ${known.join(', ')})`);
      }
    }
  }

  string(key: string, value: unknown): string {
    return typeof value === 'string' ? value : this.fail(key, 'a string', value);
  }

  boolean(key: string, value: unknown): boolean {
    return typeof value === 'boolean' ? value : this.fail(key, 'true or false', value);
  }

  oneOf<T extends string>(key: string, value: unknown, values: readonly T[]): T {
    return values.includes(value as T) ? (value as T) : this.fail(key, `one of ${values.map((v) => `"${v}"`).join(', ')}`, value);
  }

  stringArray(key: string, value: unknown): string[] {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) return this.fail(key, 'an array of strings', value);
    return value as string[];
  }

  table(key: string, value: unknown): Record<string, unknown> {
    return isTomlTable(value) ? value : this.fail(key, 'a table', value);
  }

  tableArray(key: string, value: unknown): Record<string, unknown>[] {
    if (!Array.isArray(value) || !value.every(isTomlTable)) return this.fail(key, `an array of tables ([[${key}]])`, value);
    return value;
  }
}

