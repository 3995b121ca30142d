// A client for the distribution API v2 (OCI distribution spec): manifests and
// blobs, with anonymous, basic and bearer-token auth, redirects that never carry
// credentials to another host, retries with backoff and clear errors.
import { createHash } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';

export interface RegistryEndpoint {
  /** host[:port] to contact. */
  host: string;
  /** Plain HTTP (or unverified TLS) is allowed only for registries marked insecure. */
  insecure: boolean;
  tls?: { ca: Buffer[]; cert?: Buffer; key?: Buffer };
}

export type RegistryCredentials = { username: string; password: string } | { identityToken: string } | { registryToken: string };

/** A failed registry exchange; `status` is the HTTP status when there was one. */
export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    message: string,
    readonly kind: 'unauthorized' | 'denied' | 'not-found' | 'rate-limited' | 'timeout' | 'unavailable' | 'protocol' | 'too-large',
    readonly status?: number,
  ) {
    super(message);
  }
}

const requestTimeoutMs = 30_000;
const maxRedirects = 5;
const retryDelaysMs = [250, 1000];

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

/** Schemes that worked for insecure hosts, so HTTPS is not retried on every request. */
const insecureSchemes = new Map<string, 'https:' | 'http:'>();

export class RegistryClient {
  private readonly tokens = new Map<string, string>();
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(
    readonly endpoint: RegistryEndpoint,
    private readonly credentials: RegistryCredentials | undefined,
    private readonly log: Logger,
  ) {
    const tls = endpoint.tls;
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 16,
      ca: tls?.ca.length ? [...rootCertificates, ...tls.ca.map((c) => c.toString())] : undefined,
      cert: tls?.cert,
      key: tls?.key,
      rejectUnauthorized: !endpoint.insecure,
    });
  }

  /** Fetches a manifest by tag or digest, bounded by `maxBytes`; verifies it when fetched by digest. */
  async getManifest(repository: string, reference: string, accept: string[], maxBytes: number): Promise<{ body: Buffer; contentType: string; digest: string }> {
    const res = await this.request(`/v2/${repository}/manifests/${reference}`, repository, { Accept: accept.join(', ') });
    const body = await readBounded(res.body, maxBytes, `manifest ${repository}:${reference}`);
    const digest = sha256(body);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new RegistryError(`manifest ${repository}@${reference} from ${this.endpoint.host} has digest ${digest}`, 'protocol');
    }
    return { body, contentType: String(res.headers['content-type'] ?? ''), digest };
  }

  /** A small blob (an image config) read whole and verified. */
  async getBlob(repository: string, digest: string, maxBytes: number): Promise<Buffer> {
    const res = await this.request(`/v2/${repository}/blobs/${digest}`, repository, {});
    const body = await readBounded(res.body, maxBytes, `blob ${digest}`);
    const actual = sha256(body);
    if (actual !== digest) throw new RegistryError(`blob ${digest} from ${this.endpoint.host} has digest ${actual}`, 'protocol');
    return body;
  }

  /** A blob as a stream (layers); the consumer verifies its digest as it reads. */
  async openBlob(repository: string, digest: string): Promise<{ stream: IncomingMessage; size: number | undefined }> {
    const res = await this.request(`/v2/${repository}/blobs/${digest}`, repository, {});
    const length = Number(res.headers['content-length']);
    return { stream: res.body, size: Number.isFinite(length) ? length : undefined };
  }

  /** GET with retries on transient failures, auth challenges answered once. */
  private async request(path: string, repository: string, headers: Record<string, string>): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.authorizedGet(path, repository, headers);
      } catch (err) {
        const transient = err instanceof RegistryError ? ['unavailable', 'timeout', 'rate-limited'].includes(err.kind) : true;
        const delay = retryDelaysMs[attempt];
        if (!transient || delay === undefined) throw toRegistryError(err, this.endpoint.host);
        this.log.debug({ host: this.endpoint.host, path, attempt, err: String(err) }, 'registry request failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async authorizedGet(path: string, repository: string, headers: Record<string, string>): Promise<Response> {
    const scope = `repository:${repository}:pull`;
    const authorization = this.tokens.get(scope);
    let res = await this.get(path, { ...headers, ...(authorization ? { Authorization: authorization } : {}) });
    if (res.status === 401) {
      res.body.resume();
      const challenge = String(res.headers['www-authenticate'] ?? '');
      const answer = await this.answerChallenge(challenge, scope);
      if (!answer) throw new RegistryError(`${this.endpoint.host}/${repository}: authentication required (401) and no usable credentials`, 'unauthorized', 401);
      this.tokens.set(scope, answer);
      res = await this.get(path, { ...headers, Authorization: answer });
    }
    if (res.status >= 200 && res.status < 300) return res;
    res.body.resume();
    throw statusError(res.status, `${this.endpoint.host}/${repository}`, path, res.headers['retry-after']);
  }

  /** The Authorization value for a 401 challenge: Basic from credentials, or a bearer token from the realm. */
  private async answerChallenge(challenge: string, scope: string): Promise<string | undefined> {
    const creds = this.credentials;
    const { scheme, params } = parseChallenge(challenge);
    if (scheme === 'basic') {
      return creds && 'username' in creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    }
    if (scheme !== 'bearer' || !params.realm) return undefined;
    if (creds && 'registryToken' in creds) return `Bearer ${creds.registryToken}`;
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? scope);
    const tokenHeaders: Record<string, string> = {};
    if (creds && 'username' in creds) tokenHeaders.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    if (creds && 'identityToken' in creds) tokenHeaders.Authorization = `Bearer ${creds.identityToken}`;
    const res = await this.send(realm, tokenHeaders);
    const body = await readBounded(res.body, 1 << 20, 'token response');
    if (res.status === 401 || res.status === 403) throw new RegistryError(`${realm.host}: token request refused (${res.status}); check the credentials`, 'unauthorized', res.status);
    if (res.status !== 200) throw new RegistryError(`${realm.host}: token request failed with HTTP ${res.status}`, 'protocol', res.status);
    let token: unknown;
    try {
      const doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      token = doc.token ?? doc.access_token;
    } catch {
      throw new RegistryError(`${realm.host}: token response is not JSON`, 'protocol');
    }
    if (typeof token !== 'string' || token === '') throw new RegistryError(`${realm.host}: token response has no token`, 'protocol');
    return `Bearer ${token}`;
  }

  /** GET on the registry host; follows redirects, dropping credentials when the host changes. */
  private async get(path: string, headers: Record<string, string>): Promise<Response> {
    let url = new URL(path, `${await this.scheme()}//${this.endpoint.host}`);
    let sendHeaders = headers;
    for (let hop = 0; ; hop++) {
      const res = await this.send(url, sendHeaders);
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      res.body.resume();
      if (hop >= maxRedirects) throw new RegistryError(`${this.endpoint.host}: too many redirects for ${path}`, 'protocol');
      const next = new URL(location, url);
      if (next.host !== url.host || next.protocol !== url.protocol) {
        const { Authorization: _dropped, ...rest } = sendHeaders;
        sendHeaders = rest;
      }
      url = next;
    }
  }

  private async scheme(): Promise<'https:' | 'http:'> {
    if (!this.endpoint.insecure) return 'https:';
    const known = insecureSchemes.get(this.endpoint.host);
    if (known) return known;
    try {
      const res = await this.send(new URL(`https://${this.endpoint.host}/v2/`), {});
      res.body.resume();
      insecureSchemes.set(this.endpoint.host, 'https:');
    } catch {
      insecureSchemes.set(this.endpoint.host, 'http:');
    }
    return insecureSchemes.get(this.endpoint.host)!;
  }

  private send(url: URL, headers: Record<string, string>): Promise<Response> {
    const isHttps = url.protocol === 'https:';
    if (!isHttps && !(this.endpoint.insecure && url.host === this.endpoint.host) && url.protocol !== 'http:') {
      return Promise.reject(new RegistryError(`unsupported URL scheme ${url.protocol}`, 'protocol'));
    }
    if (!isHttps && url.host === this.endpoint.host && !this.endpoint.insecure) {
      return Promise.reject(new RegistryError(`${url.host}: refusing plain HTTP to a registry not marked insecure`, 'protocol'));
    }
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(
        url,
        {
          method: 'GET',
          headers: { 'User-Agent': 'skiff', ...headers },
          agent: isHttps ? this.httpsAgent : this.httpAgent,
          timeout: requestTimeoutMs,
        },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url }),
      );
      req.on('timeout', () => req.destroy(new RegistryError(`${url.host}: no response within ${requestTimeoutMs / 1000}s`, 'timeout')));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}

function statusError(status: number, where: string, path: string, retryAfter: string | string[] | undefined): RegistryError {
  const what = path.includes('/manifests/') ? `manifest ${path.split('/manifests/')[1]}` : path.includes('/blobs/') ? `blob ${path.split('/blobs/')[1]}` : path;
  switch (status) {
    case 401:
      return new RegistryError(`${where}: ${what}: unauthorized (401)`, 'unauthorized', status);
    case 403:
      return new RegistryError(`${where}: ${what}: access denied (403)`, 'denied', status);
    case 404:
      return new RegistryError(`${where}: ${what} not found (404)`, 'not-found', status);
    case 429:
      return new RegistryError(`${where}: too many requests (429)${retryAfter ? `, retry after ${String(retryAfter)}s` : ''}`, 'rate-limited', status);
    default:
      return status >= 500
        ? new RegistryError(`${where}: ${what}: registry error (HTTP ${status})`, 'unavailable', status)
        : new RegistryError(`${where}: ${what}: unexpected HTTP ${status}`, 'protocol', status);
  }
}

function toRegistryError(err: unknown, host: string): RegistryError {
  if (err instanceof RegistryError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new RegistryError(`${host}: ${code ?? ''} ${(err as Error).message}`.replace(/\s+/g, ' ').trim(), code === 'ETIMEDOUT' ? 'timeout' : 'unavailable');
}

/** Parses `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const match = /^\s*(\S+)\s*(.*)$/s.exec(header);
  if (!match) return { scheme: '', params: {} };
  const params: Record<string, string> = {};
  for (const m of match[2]!.matchAll(/([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[m[1]!.toLowerCase()] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: match[1]!.toLowerCase(), params };
}

async function readBounded(stream: IncomingMessage, maxBytes: number, what: string): Promise<Buffer> {
  const declared = Number(stream.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    stream.destroy();
    throw new RegistryError(`${what} is ${declared} bytes, over the ${maxBytes}-byte limit`, 'too-large');
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      stream.destroy();
      throw new RegistryError(`${what} exceeds the ${maxBytes}-byte limit`, 'too-large');
    }
    chunks.push(chunk as Buffer);
  }
  if (!stream.complete) throw new RegistryError(`${what}: connection closed before the end of the body`, 'unavailable');
  return Buffer.concat(chunks);
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
