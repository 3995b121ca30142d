// A Docker registry token server (https://distribution.github.io/distribution/spec/auth/token/)
// for tests: GET realm?service=S&scope=repository:NAME:pull,push with optional Basic
// credentials, plus the OAuth2 POST form (grant_type=password|refresh_token) that containerd
// tries first. Issues JWTs the real docker-registry 2.8 accepts (ES256 or RS256, signing key
// identified by an `x5c` chain or by a libtrust `kid`).
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Credentials {
  username: string;
  password: string;
}

export interface TokenScope {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenServerOptions {
  /** username -> password. Authenticated users get every action they ask for. */
  users?: Record<string, string>;
  service?: string;
  issuer?: string;
  alg?: 'ES256' | 'RS256';
  /** How the registry finds the signing key: the cert chain in the JWT header (default) or a libtrust key id. */
  keyRef?: 'x5c' | 'kid';
  /** Seconds; reported as expires_in and used for the `exp` claim. Default 300. */
  expiresIn?: number;
  /** Actions granted to anonymous requests on any repository. Default none. */
  anonymousActions?: string[];
  /** Overrides the default policy: the actions granted for one requested scope. */
  policy?: (account: string | undefined, scope: TokenScope) => string[];
  /** Directory for key and certificate; default a private temp dir removed on stop(). */
  dir?: string;
}

export interface TokenRequestLogEntry {
  method: 'GET' | 'POST';
  /** Authenticated user, undefined for anonymous (or failed) requests. */
  account: string | undefined;
  /** 'basic' | 'password' | 'refresh_token' | 'anonymous' | 'rejected' */
  via: string;
  service: string | undefined;
  scopes: string[];
  granted: TokenScope[];
  status: number;
  userAgent: string | undefined;
  time: number;
}

export interface TokenServer {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  /** The realm to configure in the registry: URL + '/token'. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM file holding the self-signed signing certificate (the registry's rootcertbundle). */
  certPath: string;
  requests(): TokenRequestLogEntry[];
  clearLog(): void;
  /** The next `times` token requests answer `status` without a token. */
  failNext(status: number, times?: number): void;
  /** Live options; change e.g. expiresIn, anonymousActions or policy mid-test. */
  options: Required<Pick<TokenServerOptions, 'users' | 'expiresIn' | 'anonymousActions'>> & Pick<TokenServerOptions, 'policy'>;
  /** Signs arbitrary claims with the server's key (for hand-made bad tokens). */
  signToken(claims: Record<string, unknown>, header?: Record<string, unknown>): string;
  stop(): Promise<void>;
}

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'skiff-token-')));
  const alg = opts.alg ?? 'ES256';
  const keyRef = opts.keyRef ?? 'x5c';
  const service = opts.service ?? 'skiff-test-registry';
  const issuer = opts.issuer ?? 'skiff-test-token-issuer';
  const { key, certPath, certDer } = await makeSigningCert(dir, alg);
  const kid = libtrustKeyId(createPublicKey(key));
  const options = {
    users: opts.users ?? {},
    expiresIn: opts.expiresIn ?? 300,
    anonymousActions: opts.anonymousActions ?? [],
    policy: opts.policy,
  };
  const log: TokenRequestLogEntry[] = [];
  const refreshTokens = new Map<string, string>();
  let failures: { status: number; times: number } | undefined;

  const signToken = (claims: Record<string, unknown>, header: Record<string, unknown> = {}): string => {
    const head: Record<string, unknown> = { typ: 'JWT', alg };
    if (keyRef === 'x5c') head.x5c = [certDer.toString('base64')];
    else head.kid = kid;
    const input = `${b64url(JSON.stringify({ ...head, ...header }))}.${b64url(JSON.stringify(claims))}`;
    const signature = alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign('sha256', Buffer.from(input), key);
    return `${input}.${b64url(signature)}`;
  };

  const grant = (account: string | undefined, scopes: string[]): TokenScope[] => {
    const out: TokenScope[] = [];
    for (const raw of scopes) {
      const scope = parseScope(raw);
      if (!scope) continue;
      let actions: string[];
      if (options.policy) actions = options.policy(account, scope);
      else if (account !== undefined) actions = scope.actions;
      else actions = scope.type === 'repository' ? scope.actions.filter((a) => options.anonymousActions.includes(a)) : [];
      if (actions.length > 0) out.push({ ...scope, actions });
    }
    return out;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token');
    const method = req.method === 'POST' ? 'POST' : 'GET';
    const body = await readBody(req);
    const entry: TokenRequestLogEntry = {
      method, account: undefined, via: 'anonymous', service: undefined, scopes: [], granted: [], status: 200,
      userAgent: req.headers['user-agent'], time: Date.now(),
    };
    log.push(entry);
    const reply = (status: number, payload: unknown): void => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      return reply(404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
    }

    let params: URLSearchParams;
    if (method === 'POST') params = new URLSearchParams(body.toString());
    else params = url.searchParams;
    entry.service = params.get('service') ?? undefined;
    entry.scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter((s) => s !== '');

    if (failures && failures.times > 0) {
      failures.times--;
      return reply(failures.status, { errors: [{ code: 'UNAVAILABLE', message: 'injected failure' }] });
    }

    // Who is asking.
    if (method === 'POST') {
      const grantType = params.get('grant_type');
      if (grantType === 'password') {
        const user = params.get('username') ?? '';
        if (options.users[user] === undefined || options.users[user] !== params.get('password')) {
          entry.via = 'rejected';
          return reply(401, { error: 'invalid_grant' });
        }
        entry.account = user;
        entry.via = 'password';
      } else if (grantType === 'refresh_token') {
        const user = refreshTokens.get(params.get('refresh_token') ?? '');
        if (user === undefined) {
          entry.via = 'rejected';
          return reply(401, { error: 'invalid_grant' });
        }
        entry.account = user;
        entry.via = 'refresh_token';
      } else {
        return reply(400, { error: 'unsupported_grant_type' });
      }
    } else {
      const auth = req.headers.authorization;
      if (auth) {
        const creds = parseBasic(auth);
        if (!creds || options.users[creds.username] === undefined || options.users[creds.username] !== creds.password) {
          entry.via = 'rejected';
          return reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
        }
        entry.account = creds.username;
        entry.via = 'basic';
      }
    }

    entry.granted = grant(entry.account, entry.scopes);
    const now = Math.floor(Date.now() / 1000);
    const token = signToken({
      iss: issuer,
      sub: entry.account ?? '',
      aud: entry.service ?? service,
      exp: now + options.expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access: entry.granted,
    });
    const payload: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: options.expiresIn,
      issued_at: new Date(now * 1000).toISOString(),
    };
    if (method === 'POST' && entry.account !== undefined) {
      const refresh = randomBytes(16).toString('hex');
      refreshTokens.set(refresh, entry.account);
      payload.refresh_token = refresh;
      payload.scope = entry.scopes.join(' ');
      delete payload.token;
    } else if (method === 'GET' && entry.account !== undefined && params.get('offline_token') === 'true') {
      const refresh = randomBytes(16).toString('hex');
      refreshTokens.set(refresh, entry.account);
      payload.refresh_token = refresh;
    }
    reply(200, payload);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certPath,
    requests: () => [...log],
    clearLog: () => void log.splice(0),
    failNext: (status, times = 1) => void (failures = { status, times }),
    options,
    signToken,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `TYPE:NAME:ACTIONS`, e.g. `repository:library/busybox:pull,push` or `registry:catalog:*`. */
export function parseScope(raw: string): TokenScope | undefined {
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: raw.slice(0, first),
    name: raw.slice(first + 1, last),
    actions: raw.slice(last + 1).split(',').filter((a) => a !== ''),
  };
}

/** libtrust's key id: base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in 4-char groups. */
export function libtrustKeyId(pub: KeyObject): string {
  const der = pub.export({ type: 'spki', format: 'der' });
  const b32 = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return b32.match(/.{4}/g)!.join(':');
}

function base32(buf: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

async function makeSigningCert(dir: string, alg: 'ES256' | 'RS256'): Promise<{ key: KeyObject; certPath: string; certDer: Buffer }> {
  const keyPath = join(dir, 'token-signing.key');
  const certPath = join(dir, 'token-signing.crt');
  const keyArgs = alg === 'ES256'
    ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']
    : ['-newkey', 'rsa:2048'];
  await run('openssl', [
    'req', '-x509', ...keyArgs, '-nodes', '-keyout', keyPath, '-out', certPath,
    '-days', '2', '-subj', '/CN=skiff-test-token-signer',
  ]);
  const key = createPrivateKey(await readFile(keyPath));
  const pem = (await readFile(certPath)).toString();
  const certDer = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return { key, certPath, certDer };
}

function parseBasic(header: string): Credentials | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header.trim());
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString();
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
