/**
 * containers-policy.json(5): which images may be pulled. skiff enforces
 * `insecureAcceptAnything` and `reject`; signature requirements are parsed and
 * validated but refuse the pull until verification exists — failing closed,
 * never accepting an image its policy wants signed.
 */
import { readFile } from 'node:fs/promises';
import { formatReference, repositoryName, type ImageReference } from './reference.js';

/** A policy problem; the message names the file and the JSON path. */
export class PolicyError extends Error {
  override name = 'PolicyError';
}

export type PolicyRequirement =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  | { type: 'signedBy'; keyType: string }
  | { type: 'sigstoreSigned' }
  | { type: 'signedBaseLayer' };

export type RequirementType = PolicyRequirement['type'];

export interface Policy {
  source: string;
  default: PolicyRequirement[];
  /** Scope → requirements for the docker transport; "" is the transport's own default. */
  docker: Map<string, PolicyRequirement[]>;
  /** Names of the other transports present (validated, not used by a CRI runtime). */
  otherTransports: string[];
}

/** `scope` is the docker-transport scope that decided (possibly ""), or "default" for the global default. */
export type PolicyDecision =
  | { allowed: true; scope: string }
  | { allowed: false; scope: string; reason: string; kind: 'rejected' | 'unsupported' };

/**
 * Reads the policy. A missing file is an error, as for podman and CRI-O:
 * pulling with no trust policy at all would be a silent accept-anything.
 */
export async function loadPolicy(file: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PolicyError(
        `${file}: signature policy not found; create it (most distributions ship {"default":[{"type":"insecureAcceptAnything"}]}) ` +
          'or point [image] signature_policy at one',
      );
    }
    throw new PolicyError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parsePolicy(file, text);
}

export function parsePolicy(source: string, text: string): Policy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new PolicyError(`${source}: invalid JSON: ${(err as Error).message}`);
  }
  const check = new Checker(source);
  const top = check.object('(top level)', doc);
  check.knownKeys('', top, ['default', 'transports']);
  if (top.default === undefined) throw new PolicyError(`${source}: "default" is missing (the requirements for images no scope matches)`);

  const policy: Policy = { source, default: requirements(check, 'default', top.default), docker: new Map(), otherTransports: [] };
  if (top.transports !== undefined) {
    for (const [transport, scopesValue] of Object.entries(check.object('transports', top.transports))) {
      const at = /^[A-Za-z_][\w-]*$/.test(transport) ? `transports.${transport}` : `transports${pathKey(transport)}`;
      for (const [scope, value] of Object.entries(check.object(at, scopesValue))) {
        const list = requirements(check, `${at}${pathKey(scope)}`, value);
        if (transport === 'docker') policy.docker.set(scope, list);
      }
      if (transport !== 'docker') policy.otherTransports.push(transport);
    }
  }
  return policy;
}

/**
 * The requirements of the most specific scope matching `ref` must all accept it.
 * Scopes, most specific first: `host/repo:tag` or `host/repo@digest`, `host/repo`,
 * each parent namespace, `host[:port]`, `*.parent.domain` wildcards (nearest
 * first, port ignored), the docker transport's "" and finally `default`.
 */
export function evaluatePolicy(policy: Policy, ref: ImageReference): PolicyDecision {
  let scope = 'default';
  let list = policy.default;
  for (const candidate of policyScopes(ref)) {
    const found = policy.docker.get(candidate);
    if (found) {
      scope = candidate;
      list = found;
      break;
    }
  }
  const where = `${formatReference(ref)} (${scope === 'default' ? '"default"' : `policy scope ${JSON.stringify(scope)}`} in ${policy.source})`;
  if (list.some((r) => r.type === 'reject')) {
    return { allowed: false, scope, kind: 'rejected', reason: `policy rejects ${where}` };
  }
  const unsupported = list.find((r) => r.type !== 'insecureAcceptAnything');
  if (unsupported) {
    return {
      allowed: false,
      scope,
      kind: 'unsupported',
      reason: `signature verification (${unsupported.type}) is not supported yet; refusing to pull ${where}`,
    };
  }
  return { allowed: true, scope };
}

/** The docker-transport scopes that can govern `ref`, most specific first (without "" and default). */
export function policyScopes(ref: ImageReference): string[] {
  const name = repositoryName(ref);
  const scopes: string[] = [];
  // With both, the digest is what is pulled, so its scope comes first.
  if (ref.digest !== undefined) scopes.push(`${name}@${ref.digest}`);
  if (ref.tag !== undefined) scopes.push(`${name}:${ref.tag}`);
  for (let namespace = name; ; namespace = namespace.slice(0, namespace.lastIndexOf('/'))) {
    scopes.push(namespace);
    if (!namespace.includes('/')) break;
  }
  // IPv6 hosts have no parent domains; otherwise drop the port and walk up the labels.
  if (!ref.domain.startsWith('[')) {
    const colon = ref.domain.lastIndexOf(':');
    let host = colon === -1 ? ref.domain : ref.domain.slice(0, colon);
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.')) {
      host = host.slice(dot + 1);
      scopes.push(`*.${host}`);
    }
  }
  scopes.push('');
  return scopes;
}

const signedByKeyTypes = ['GPGKeys', 'signedByGPGKeys', 'X509Certificates', 'signedByX509CAs'];
const identityTypes = ['matchExact', 'matchRepoDigestOrExact', 'matchRepository', 'exactReference', 'exactRepository', 'remapIdentity'];

function requirements(check: Checker, at: string, value: unknown): PolicyRequirement[] {
  if (!Array.isArray(value)) return check.fail(at, 'a list of requirements', value);
  if (value.length === 0) return check.fail(at, 'at least one requirement (use [{"type":"insecureAcceptAnything"}] to accept anything)', value);
  return value.map((item, i) => requirement(check, `${at}[${i}]`, item));
}

/** Loose validation of signature requirements: enough to catch typos, not to verify anything. */
function requirement(check: Checker, at: string, value: unknown): PolicyRequirement {
  const req = check.object(at, value);
  const type = req.type;
  switch (type) {
    case 'insecureAcceptAnything':
    case 'reject':
      check.knownKeys(at, req, ['type']);
      return { type };
    case 'signedBy': {
      check.knownKeys(at, req, ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity']);
      if (typeof req.keyType !== 'string' || !signedByKeyTypes.includes(req.keyType)) {
        check.fail(`${at}.keyType`, `one of ${signedByKeyTypes.map((t) => `"${t}"`).join(', ')}`, req.keyType);
      }
      exactlyOne(check, at, req, ['keyPath', 'keyPaths', 'keyData']);
      signedIdentity(check, `${at}.signedIdentity`, req.signedIdentity);
      return { type, keyType: req.keyType as string };
    }
    case 'sigstoreSigned':
      check.knownKeys(at, req, [
        'type',
        'keyPath',
        'keyPaths',
        'keyData',
        'keyDatas',
        'fulcio',
        'pki',
        'rekorPublicKeyPath',
        'rekorPublicKeyPaths',
        'rekorPublicKeyData',
        'rekorPublicKeyDatas',
        'signedIdentity',
      ]);
      exactlyOne(check, at, req, ['keyPath', 'keyPaths', 'keyData', 'keyDatas', 'fulcio', 'pki']);
      signedIdentity(check, `${at}.signedIdentity`, req.signedIdentity);
      return { type };
    case 'signedBaseLayer':
      check.knownKeys(at, req, ['type', 'baseLayerIdentity']);
      if (req.baseLayerIdentity === undefined) check.fail(`${at}.baseLayerIdentity`, 'an identity object', undefined);
      signedIdentity(check, `${at}.baseLayerIdentity`, req.baseLayerIdentity);
      return { type };
    default:
      return check.fail(`${at}.type`, 'one of "insecureAcceptAnything", "reject", "signedBy", "sigstoreSigned", "signedBaseLayer"', type);
  }
}

function exactlyOne(check: Checker, at: string, req: Record<string, unknown>, keys: string[]): void {
  const present = keys.filter((k) => req[k] !== undefined);
  if (present.length !== 1) {
    throw new PolicyError(`${check.source}: ${at}: exactly one of ${keys.join(', ')} is required, found ${present.length ? present.join(', ') : 'none'}`);
  }
}

function signedIdentity(check: Checker, at: string, value: unknown): void {
  if (value === undefined) return;
  const identity = check.object(at, value);
  if (typeof identity.type !== 'string' || !identityTypes.includes(identity.type)) {
    check.fail(`${at}.type`, `one of ${identityTypes.map((t) => `"${t}"`).join(', ')}`, identity.type);
  }
}

/** `["quay.io"]`-style path segments, so the scope in a message is the key as written. */
function pathKey(key: string): string {
  return `[${JSON.stringify(key)}]`;
}

class Checker {
  constructor(readonly source: string) {}

  fail(at: string, expected: string, value: unknown): never {
    throw new PolicyError(`${this.source}: ${at}: expected ${expected}, got ${describe(value)}`);
  }

  object(at: string, value: unknown): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.fail(at, 'a JSON object', value);
    return value as Record<string, unknown>;
  }

  knownKeys(at: string, object: Record<string, unknown>, known: string[]): void {
    for (const key of Object.keys(object)) {
      if (!known.includes(key)) {
        throw new PolicyError(`${this.source}: unknown key ${at === '' ? JSON.stringify(key) : `${at}.${key}`} (known here: ${known.join(', ')})`);
      }
    }
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}
