/**
 * Registry credentials from containers-auth.json(5), which is also the shape
 * of docker's config.json (`{"auths": {"KEY": {"auth": base64("user:password")}}}`).
 * Keys may name a registry, a namespace or a repository; the most specific wins.
 */
import { readFile } from 'node:fs/promises';
import { dockerHubDomain, repositoryName, type ImageReference } from './reference.js';

/** An auth file problem; the message names the file and the key. */
export class AuthFileError extends Error {
  override name = 'AuthFileError';
}

export type RegistryLogin = { username: string; password: string } | { identityToken: string };

export interface AuthFile {
  /** '' when no file was given or it does not exist. */
  source: string;
  /** Normalised key (`docker.io`, `quay.io/ns`) → the entry as written. */
  entries: Map<string, AuthEntry>;
  /** `credHelpers` as written (registry → helper name); skiff does not run helpers. */
  credentialHelpers: Map<string, string>;
}

export interface AuthEntry {
  /** The key as written in the file, for messages. */
  key: string;
  auth: string;
  identityToken: string;
}

/** Reads the file; a missing file (or '') means no credentials, like `podman login` never run. */
export async function loadAuthFile(file: string): Promise<AuthFile> {
  if (file === '') return emptyAuthFile('');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyAuthFile(file);
    throw new AuthFileError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parseAuthFile(file, text);
}

export function parseAuthFile(source: string, text: string): AuthFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AuthFileError(`${source}: invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new AuthFileError(`${source}: expected a JSON object with "auths"`);
  const file = emptyAuthFile(source);
  // docker's config.json carries many other settings (credsStore, proxies, ...): only these two matter here.
  if (doc.auths !== undefined) {
    if (!isObject(doc.auths)) throw new AuthFileError(`${source}: "auths": expected an object of registry → credentials`);
    for (const [key, value] of Object.entries(doc.auths)) {
      if (!isObject(value)) throw new AuthFileError(`${source}: auths["${key}"]: expected an object`);
      for (const field of ['auth', 'identitytoken'] as const) {
        if (value[field] !== undefined && typeof value[field] !== 'string') {
          throw new AuthFileError(`${source}: auths["${key}"].${field}: expected a string`);
        }
      }
      const entry: AuthEntry = { key, auth: (value.auth as string | undefined) ?? '', identityToken: (value.identitytoken as string | undefined) ?? '' };
      const normalised = normaliseKey(key);
      // A key already written in the plain form beats a legacy URL form of the same registry.
      const existing = file.entries.get(normalised);
      if (!existing || (isUrlKey(existing.key) && !isUrlKey(key))) file.entries.set(normalised, entry);
    }
  }
  if (doc.credHelpers !== undefined) {
    if (!isObject(doc.credHelpers)) throw new AuthFileError(`${source}: "credHelpers": expected an object of registry → helper`);
    for (const [registry, helper] of Object.entries(doc.credHelpers)) {
      if (typeof helper !== 'string') throw new AuthFileError(`${source}: credHelpers["${registry}"]: expected a string`);
      file.credentialHelpers.set(registry, helper);
    }
  }
  return file;
}

/**
 * Credentials for a repository: keys `host/ns/repo`, `host/ns`, `host` in that
 * order. An identity token (an OAuth2 refresh token) is preferred over a
 * password, as docker does. Entries with neither (docker writes `{}` for
 * registries kept in a credential store) are skipped.
 */
export function credentialsFor(file: AuthFile, ref: Pick<ImageReference, 'domain' | 'path'>): RegistryLogin | undefined {
  const domain = dockerHubHosts.has(ref.domain) ? dockerHubDomain : ref.domain;
  for (let key = repositoryName({ domain, path: ref.path }); ; key = key.slice(0, key.lastIndexOf('/'))) {
    const entry = file.entries.get(key);
    if (entry) {
      const login = decodeEntry(file.source, entry);
      if (login) return login;
    }
    if (!key.includes('/')) return undefined;
  }
}

function decodeEntry(source: string, entry: AuthEntry): RegistryLogin | undefined {
  if (entry.identityToken !== '') return { identityToken: entry.identityToken };
  if (entry.auth === '') return undefined;
  // Strict standard base64, as Go's decoder: Buffer.from would silently skip junk.
  if (entry.auth.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(entry.auth)) {
    throw new AuthFileError(`${source}: auths["${entry.key}"].auth: not valid base64`);
  }
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) throw new AuthFileError(`${source}: auths["${entry.key}"].auth: expected base64 of "username:password", found no ':'`);
  // Only the first ':' separates; passwords may contain more. Trailing NULs are an old docker quirk.
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/\0+$/, '') };
}

/**
 * `https://index.docker.io/v1/` → `docker.io`, `http://host:5000/v2/` → `host:5000`:
 * URL keys (written by old docker logins) name a registry only, so their path is dropped.
 */
function normaliseKey(key: string): string {
  let normalised = key;
  const scheme = /^https?:\/\//.exec(normalised);
  if (scheme) {
    normalised = normalised.slice(scheme[0].length);
    const slash = normalised.indexOf('/');
    if (slash !== -1) normalised = normalised.slice(0, slash);
  }
  normalised = normalised.replace(/\/+$/, '');
  const slash = normalised.indexOf('/');
  const host = slash === -1 ? normalised : normalised.slice(0, slash);
  return dockerHubHosts.has(host) ? dockerHubDomain + normalised.slice(host.length) : normalised;
}

/** Spellings of Docker Hub found in auth files. */
const dockerHubHosts = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

function isUrlKey(key: string): boolean {
  return /^https?:\/\//.test(key);
}

function emptyAuthFile(source: string): AuthFile {
  return { source, entries: new Map(), credentialHelpers: new Map() };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
