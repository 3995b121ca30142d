// A small distribution-API client for tests: node:http, whole bodies in memory, and the
// registry auth dance (Basic, or Bearer via the token realm) done on a 401 challenge.
import { request as httpRequestRaw, type IncomingHttpHeaders } from 'node:http';
import type { Credentials } from './token_server.js';

export type { Credentials } from './token_server.js';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs?: number;
}

/**
 * One plain HTTP request. Rejects when the connection fails or the body ends early
 * (a truncated response), so fault-injection tests can tell.
 */
export function httpRequest(url: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const headers: Record<string, string> = { ...opts.headers };
    if (body !== undefined) headers['content-length'] = String(body.length);
    const req = httpRequestRaw(url, { method: opts.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(Object.assign(new Error(`response body failed: ${err.message}`), { partial: Buffer.concat(chunks) })));
      res.on('close', () => {
        if (!res.complete) {
          reject(Object.assign(new Error(`truncated response from ${url}`), { partial: Buffer.concat(chunks) }));
        }
      });
      res.on('end', () => {
        if (res.complete) resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    if (opts.timeoutMs !== undefined) {
      req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`timeout after ${opts.timeoutMs} ms: ${url}`)));
    }
    req.end(body);
  });
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="..",service="..",scope=".."` (one challenge; enough for the registry). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) {
    params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

export interface RegistryClientOptions {
  credentials?: Credentials | null;
  /** Sent on every registry and token request; token and proxy logs record it. */
  userAgent?: string;
}

export interface RegistryRequestOptions {
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs?: number;
}

/**
 * Talks to one registry base URL. On a 401 it answers the challenge: Basic with the
 * credentials, or Bearer by fetching a token from the realm (with Basic credentials if
 * it has any) for the challenged scope, then retries once. Tokens are cached per scope.
 */
export class RegistryClient {
  readonly baseUrl: string;
  readonly credentials: Credentials | null;
  readonly userAgent: string;
  private basic = false;
  private readonly tokens = new Map<string, string>();
  /** Every token fetch this client made, in order (the scope strings). */
  readonly tokenFetches: string[] = [];

  constructor(baseUrl: string, opts: RegistryClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.credentials = opts.credentials ?? null;
    this.userAgent = opts.userAgent ?? 'skiff-test-client';
  }

  /** `path` is relative to the base (`/v2/...`) or an absolute URL (e.g. an upload Location). */
  async request(method: string, path: string, opts: RegistryRequestOptions = {}): Promise<HttpResponse> {
    const url = /^https?:\/\//.test(path) ? path : this.baseUrl + path;
    const key = scopeFor(method, new URL(url).pathname);
    const send = (auth: string | undefined) => httpRequest(url, {
      method,
      body: opts.body,
      timeoutMs: opts.timeoutMs,
      headers: { 'user-agent': this.userAgent, ...(auth ? { authorization: auth } : {}), ...opts.headers },
    });
    const res = await send(this.authFor(key));
    if (res.status !== 401) return res;
    const challenge = parseChallenge(res.headers['www-authenticate'] as string | undefined);
    if (!challenge) return res;
    if (challenge.scheme === 'basic') {
      if (!this.credentials) return res;
      this.basic = true;
      return send(this.authFor(key));
    }
    if (challenge.scheme === 'bearer' && challenge.params.realm) {
      const token = await this.fetchToken(challenge.params.realm, challenge.params.service, challenge.params.scope);
      this.tokens.set(key, `Bearer ${token}`);
      return send(`Bearer ${token}`);
    }
    return res;
  }

  /** GET a manifest; `accept` defaults to every manifest type the harness pushes. */
  async getManifest(repo: string, ref: string, accept: string[] = ALL_MANIFEST_TYPES): Promise<HttpResponse & { digest: string | undefined; mediaType: string | undefined }> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${ref}`, { headers: { accept: accept.join(', ') } });
    return {
      ...res,
      digest: res.headers['docker-content-digest'] as string | undefined,
      mediaType: res.headers['content-type'],
    };
  }

  getBlob(repo: string, digest: string, opts: RegistryRequestOptions = {}): Promise<HttpResponse> {
    return this.request('GET', `/v2/${repo}/blobs/${digest}`, opts);
  }

  private authFor(key: string): string | undefined {
    if (this.basic && this.credentials) return basicAuth(this.credentials);
    return this.tokens.get(key);
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string | undefined): Promise<string> {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    if (scope) for (const s of scope.split(' ')) url.searchParams.append('scope', s);
    this.tokenFetches.push(scope ?? '');
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    if (this.credentials) headers.authorization = basicAuth(this.credentials);
    const res = await httpRequest(url.toString(), { headers });
    if (res.status !== 200) throw new Error(`token request ${url} -> ${res.status}: ${res.body.toString()}`);
    const json = JSON.parse(res.body.toString()) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (!token) throw new Error(`token response without token: ${res.body.toString()}`);
    return token;
  }
}

export const ALL_MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export function basicAuth(c: Credentials): string {
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
}

/** Cache key for a request: the repository and whether it needs push. */
function scopeFor(method: string, pathname: string): string {
  const m = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(pathname);
  if (!m) return pathname === '/v2/_catalog' ? 'registry:catalog:*' : '';
  const actions = method === 'GET' || method === 'HEAD' ? 'pull' : method === 'DELETE' ? 'delete' : 'pull,push';
  return `repository:${m[1]}:${actions}`;
}
