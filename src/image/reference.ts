/**
 * Image references in the docker grammar the kubelet and crictl use:
 * `[domain[:port]/]path[:tag][@algorithm:hex]`, normalised the way docker does
 * (`busybox` is `docker.io/library/busybox:latest`).
 */

export interface ImageReference {
  /** Registry host, with `:port` when given: "docker.io", "localhost:5000", "[::1]:5000". */
  domain: string;
  /** Repository path inside the registry: "library/busybox". */
  path: string;
  tag?: string;
  /** "sha256:<64 hex>". */
  digest?: string;
}

/** A reference that does not follow the grammar; the message quotes the input and names the problem. */
export class InvalidReferenceError extends Error {
  override name = 'InvalidReferenceError';
  constructor(
    readonly input: string,
    readonly problem: string,
  ) {
    super(`invalid image reference ${JSON.stringify(input)}: ${problem}`);
  }
}

export const dockerHubDomain = 'docker.io';
export const defaultTag = 'latest';
/** Longest `domain/path` the registry API accepts. */
export const maxNameLength = 255;

/** Old spelling of Docker Hub that docker still rewrites to docker.io. */
const legacyDockerHubDomain = 'index.docker.io';
/** Docker Hub keeps its official single-name images under this namespace. */
const officialNamespace = 'library';

const pathComponentPattern = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const hostLabel = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const hostNamePattern = new RegExp(`^${hostLabel}(?:\\.${hostLabel})*$`);
const ipv6HostPattern = /^\[[a-fA-F0-9:]+\]$/;
const portPattern = /^[0-9]+$/;
const tagPattern = /^\w[\w.-]{0,127}$/;
const digestPattern = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):(.*)$/;
/** A bare image ID; docker refuses it as a name so it is never mistaken for a repository. */
const imageIdPattern = /^[a-f0-9]{64}$/;

/** Hex length of each digest algorithm the OCI image spec registers. */
const digestHexLength: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/** Parses and fully normalises a reference; a name without tag or digest gets `latest`. */
export function parseReference(input: string): ImageReference {
  return normalise(input, input);
}

/** `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  let text = repositoryName(ref);
  if (ref.tag !== undefined) text += `:${ref.tag}`;
  if (ref.digest !== undefined) text += `@${ref.digest}`;
  return text;
}

/** `domain/path`, the repository without tag or digest. */
export function repositoryName(ref: Pick<ImageReference, 'domain' | 'path'>): string {
  return `${ref.domain}/${ref.path}`;
}

/**
 * True when `input` names no registry (`busybox`, `library/busybox`, `user/app:1`),
 * so the registry has to come from search configuration. Syntax is not checked here.
 */
export function isShortName(input: string): boolean {
  const slash = input.indexOf('/');
  return slash === -1 || !looksLikeDomain(input.slice(0, slash));
}

/** A short name taken apart without normalisation, as alias tables key it. */
export interface ShortName {
  /** The repository as written: "busybox", "library/busybox". */
  name: string;
  tag?: string;
  digest?: string;
}

/** Validates a short name and splits off its tag and digest; throws when `input` names a registry. */
export function splitShortName(input: string): ShortName {
  if (!isShortName(input)) {
    throw new InvalidReferenceError(input, `not a short name: it names registry "${input.slice(0, input.indexOf('/'))}"`);
  }
  if (imageIdPattern.test(input)) throw new InvalidReferenceError(input, 'a 64-hex-digit string is an image ID, not a repository name');
  const parts = splitTagAndDigest(input, input);
  checkPath(input, parts.name);
  return parts;
}

/**
 * Completes a short name with a registry from the search list: docker.io adds
 * `library/` to single-component names (as docker does), other registries take
 * the name as is.
 */
export function qualifyShortName(shortName: string, registry: string): ImageReference {
  const { name, tag, digest } = splitShortName(shortName);
  const problem = domainProblem(registry);
  if (problem) throw new InvalidReferenceError(shortName, `cannot search registry "${registry}": ${problem}`);
  // Built directly rather than re-parsed: "myregistry/busybox" would read as a Docker Hub path.
  return assemble(shortName, registry, name, tag, digest);
}

/** Why `domain` is not a valid `host[:port]`, or undefined when it is. */
export function domainProblem(domain: string): string | undefined {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith('[')) {
    const end = domain.indexOf(']');
    host = end === -1 ? domain : domain.slice(0, end + 1);
    const rest = domain.slice(host.length);
    if (rest !== '') {
      if (!rest.startsWith(':')) return `invalid registry "${domain}": unexpected "${rest}" after the IPv6 address`;
      port = rest.slice(1);
    }
    if (!ipv6HostPattern.test(host)) return `invalid registry "${domain}": malformed IPv6 address`;
  } else {
    const colon = domain.lastIndexOf(':');
    if (colon !== -1) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (!hostNamePattern.test(host)) return `invalid registry host "${host}"`;
  }
  if (port !== undefined && !portPattern.test(port)) return `invalid registry port "${port}"`;
  return undefined;
}

/** Why `digest` is not a usable `algorithm:hex` digest, or undefined when it is. */
export function digestProblem(digest: string): string | undefined {
  const match = digestPattern.exec(digest);
  if (!match) return `invalid digest "${digest}": expected ALGORITHM:HEX such as sha256:<64 hex digits>`;
  const [, algorithm, hex] = match as unknown as [string, string, string];
  const length = digestHexLength[algorithm];
  if (length === undefined) {
    return `invalid digest "${digest}": unsupported algorithm "${algorithm}" (expected ${Object.keys(digestHexLength).join(', ')})`;
  }
  if (!new RegExp(`^[a-fA-F0-9]{${length}}$`).test(hex)) return `invalid digest "${digest}": expected ${length} hex digits`;
  if (hex !== hex.toLowerCase()) return `invalid digest "${digest}": hex digits must be lowercase`;
  return undefined;
}

/** The docker normalisation of `text`; errors quote `shownAs`, what the user typed. */
function normalise(text: string, shownAs: string): ImageReference {
  const fail = (problem: string): never => {
    throw new InvalidReferenceError(shownAs, problem);
  };
  if (text === '') fail('empty reference');
  if (imageIdPattern.test(text)) fail('a 64-hex-digit string is an image ID, not a repository name');
  const { name, tag, digest } = splitTagAndDigest(text, shownAs);

  let domain = dockerHubDomain;
  let path = name;
  const slash = name.indexOf('/');
  if (slash !== -1 && looksLikeDomain(name.slice(0, slash))) {
    domain = name.slice(0, slash);
    path = name.slice(slash + 1);
    const problem = domainProblem(domain);
    if (problem) fail(problem);
  }
  return assemble(shownAs, domain, path, tag, digest);
}

/** The normalised reference from its checked parts: Docker Hub spellings, `library/`, `latest`. */
function assemble(shownAs: string, domain: string, path: string, tag: string | undefined, digest: string | undefined): ImageReference {
  if (domain === legacyDockerHubDomain) domain = dockerHubDomain;
  if (domain === dockerHubDomain && !path.includes('/')) path = `${officialNamespace}/${path}`;
  checkPath(shownAs, path);
  if (domain.length + 1 + path.length > maxNameLength) {
    throw new InvalidReferenceError(shownAs, `repository name must not be more than ${maxNameLength} characters`);
  }
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = defaultTag;
  return ref;
}

/** Splits `name[:tag][@digest]`; the tag is a ':' in the last path component, so `host:5000/x` has none. */
function splitTagAndDigest(text: string, shownAs: string): ShortName {
  const fail = (problem: string): never => {
    throw new InvalidReferenceError(shownAs, problem);
  };
  let name = text;
  const result: ShortName = { name };
  const at = text.indexOf('@');
  if (at !== -1) {
    const digest = text.slice(at + 1);
    if (digest === '') fail('empty digest');
    const problem = digestProblem(digest);
    if (problem) fail(problem);
    result.digest = digest;
    name = text.slice(0, at);
  }
  const colon = name.indexOf(':', name.lastIndexOf('/') + 1);
  if (colon !== -1) {
    const tag = name.slice(colon + 1);
    if (tag === '') fail('empty tag');
    if (!tagPattern.test(tag)) fail(`invalid tag "${tag}": expected letters, digits, '_', '.' or '-', not starting with '.' or '-', at most 128`);
    result.tag = tag;
    name = name.slice(0, colon);
  }
  if (name === '') fail('empty repository name');
  result.name = name;
  return result;
}

/** docker's rule: the first component is a registry when it has '.' or ':', is localhost, or has capitals. */
function looksLikeDomain(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component !== component.toLowerCase();
}

function checkPath(shownAs: string, path: string): void {
  if (path !== path.toLowerCase()) throw new InvalidReferenceError(shownAs, 'repository name must be lowercase');
  for (const component of path.split('/')) {
    if (component === '') throw new InvalidReferenceError(shownAs, `empty path component in repository "${path}"`);
    if (!pathComponentPattern.test(component)) {
      throw new InvalidReferenceError(
        shownAs,
        `invalid path component "${component}": expected lowercase letters and digits, joined by '.', '_', '__' or dashes`,
      );
    }
  }
}
