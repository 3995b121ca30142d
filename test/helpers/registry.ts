// A real registry for image-service tests: Debian's docker-registry (distribution 2.8) on
// 127.0.0.1 with a throwaway config and storage, behind a small node reverse proxy that
// logs every request (so tests can count blob downloads) and injects one-shot faults
// (status codes, delays, truncated or corrupted bodies, dropped connections).
//
//   const registry = await startRegistry({ auth: 'token' });
//   after(() => registry.stop());
//   await pushImage(registry, 'library/app', 'v1', { layers: [[{ name: 'hello', data: 'hi' }]] });
//   ... point skiff at registry.host ...
//   assert.equal(registry.blobGets(digest), 1);
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request as httpRequestRaw, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { httpRequest, RegistryClient } from './registry_client.js';
import { startTokenServer, type Credentials, type TokenRequestLogEntry, type TokenServer, type TokenServerOptions } from './token_server.js';

const run = promisify(execFile);

export const registryBinary = process.env.SKIFF_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

export type RegistryAuth = 'none' | 'basic' | 'token';

export interface RegistryOptions {
  auth?: RegistryAuth;
  /** username -> password for basic/token auth. Default { tester: 'tester-password' }. */
  users?: Record<string, string>;
  /** Token server tuning (alg, keyRef, expiresIn, anonymousActions, policy, service, issuer). */
  token?: Omit<TokenServerOptions, 'users' | 'dir'>;
  /** docker-registry's log level; its stderr is kept for error messages. Default 'warn'. */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

export interface RequestLogEntry {
  method: string;
  /** Path with query, as the client sent it. */
  path: string;
  pathname: string;
  /** Response status; 0 if the connection was dropped before an answer. */
  status: number;
  /** Body bytes sent to the client. */
  bytes: number;
  /** The client went away, or the proxy cut the body (truncate/drop). */
  aborted: boolean;
  /** Which fault, if any, was applied (a short description). */
  fault: string | undefined;
  auth: 'basic' | 'bearer' | 'other' | undefined;
  userAgent: string | undefined;
  range: string | undefined;
  time: number;
  durationMs: number;
}

export interface Fault {
  /** Only requests with this method (default: any). */
  method?: string;
  /** Answer this status without asking the registry (body: `body` or a registry-style error). */
  status?: number;
  body?: Buffer | string;
  /** Extra response headers for `status` answers (e.g. { 'retry-after': '1' }). */
  headers?: Record<string, string>;
  /** Wait before answering (before the status line). */
  delayMs?: number;
  /** Send headers and this many body bytes, then reset the connection. */
  truncateAfterBytes?: number;
  /** Send headers and this many body bytes, then send nothing more (until the client gives up). */
  stallAfterBytes?: number;
  /** Flip one byte in the middle of the body (same length, different digest). */
  corrupt?: boolean;
  /** Serve the registry's status and headers with this body instead (content-length adjusted). */
  replaceBody?: Buffer | string;
  /** Close the connection without any answer. */
  drop?: boolean;
  /** How many matching requests this fault applies to. Default 1. */
  times?: number;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` of the logging proxy: what skiff should pull from. */
  host: string;
  /** `http://127.0.0.1:PORT` of the proxy. */
  url: string;
  /** The registry itself, bypassing the proxy (no log, no faults). pushImage uses it by default. */
  upstream: { host: string; url: string };
  auth: RegistryAuth;
  users: Record<string, string>;
  /** The first user, or null without auth. */
  credentials: Credentials | null;
  /** Present with auth 'token'. Its requests() log every token request. */
  tokenServer: TokenServer | undefined;
  /** Temp dir with config.yml, htpasswd, storage/. Removed by stop(). */
  dir: string;

  /** Requests through the proxy, in arrival order. */
  requests(): RequestLogEntry[];
  /** GET requests through the proxy for this blob (any repository), optionally only with a given status. */
  blobGets(digest: string, opts?: { status?: number }): number;
  /** GET requests through the proxy for manifests; with ref: only that tag/digest. */
  manifestGets(ref?: string): number;
  /** Token server requests (auth 'token'), in order; [] otherwise. */
  tokenRequests(): TokenRequestLogEntry[];
  /** Clears the proxy log and the token server log. */
  clearLog(): void;

  /** Adds a fault for requests whose path+query matches (RegExp) or whose pathname contains (string). */
  failNext(path: RegExp | string, fault?: Fault): void;
  /** Flips a byte in GETs of this blob, `times` times (default: until clearFaults()). */
  corruptBlob(digest: string, times?: number): void;
  clearFaults(): void;
  /** Pending faults, for debugging. */
  faults(): { path: RegExp | string; fault: Fault; remaining: number }[];

  /** Serves `data` at `path` from the proxy (e.g. foreign layer URLs). Returns its URL. */
  serveStatic(path: string, data: Buffer | string, contentType?: string): string;

  /** A RegistryClient on the proxy URL; credentials default to `credentials`, null for anonymous. */
  client(opts?: { credentials?: Credentials | null; userAgent?: string }): RegistryClient;
  /** docker-registry's stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

const DEFAULT_USERS = { tester: 'tester-password' };

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const auth = opts.auth ?? 'none';
  const users = opts.users ?? DEFAULT_USERS;
  const dir = await mkdtemp(join(tmpdir(), 'skiff-registry-'));
  const cleanups: (() => Promise<void>)[] = [trackDir(dir)];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };
  try {
    await mkdir(join(dir, 'storage'));
    let authYaml = '';
    let tokenServer: TokenServer | undefined;
    if (auth === 'basic') {
      const lines = await Promise.all(Object.entries(users).map(async ([user, password]) =>
        (await run('htpasswd', ['-Bbn', '-C', '4', user, password])).stdout.trim()));
      await writeFile(join(dir, 'htpasswd'), lines.join('\n') + '\n');
      authYaml = `auth:\n  htpasswd:\n    realm: ${q('skiff-test')}\n    path: ${q(join(dir, 'htpasswd'))}\n`;
    } else if (auth === 'token') {
      tokenServer = await startTokenServer({ ...opts.token, users, dir });
      cleanups.push(() => tokenServer!.stop());
      authYaml = 'auth:\n  token:\n' +
        `    realm: ${q(tokenServer.realm)}\n    service: ${q(tokenServer.service)}\n` +
        `    issuer: ${q(tokenServer.issuer)}\n    rootcertbundle: ${q(tokenServer.certPath)}\n`;
    }
    const configFor = (port: number) => [
      'version: 0.1',
      'log:',
      `  level: ${opts.logLevel ?? 'warn'}`,
      '  formatter: text',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${q(join(dir, 'storage'))}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: ${q(`127.0.0.1:${port}`)}`,
      `  secret: ${q(randomBytes(16).toString('hex'))}`,
      // Without an allow list 2.8 refuses every layer URL (foreign/non-distributable layers).
      'validation:',
      '  manifests:',
      '    urls:',
      '      allow:',
      `        - ${q('^https?://')}`,
      '',
    ].join('\n') + authYaml;

    const launched = await launchRegistry(dir, configFor);
    cleanups.push(() => stopProcess(launched.proc));
    const proxy = await startProxy(launched.port);
    cleanups.push(() => proxy.stop());

    const credentials = auth === 'none' ? null : firstUser(users);
    const registry: TestRegistry = {
      host: proxy.host,
      url: `http://${proxy.host}`,
      upstream: { host: `127.0.0.1:${launched.port}`, url: `http://127.0.0.1:${launched.port}` },
      auth,
      users,
      credentials,
      tokenServer,
      dir,
      requests: () => [...proxy.log],
      blobGets: (digest, o = {}) => proxy.log.filter((e) =>
        e.method === 'GET' && e.pathname.endsWith(`/blobs/${digest}`) && (o.status === undefined || e.status === o.status)).length,
      manifestGets: (ref) => proxy.log.filter((e) =>
        e.method === 'GET' && /\/manifests\/[^/]+$/.test(e.pathname) && (ref === undefined || e.pathname.endsWith(`/manifests/${ref}`))).length,
      tokenRequests: () => tokenServer?.requests() ?? [],
      clearLog: () => {
        proxy.log.splice(0);
        tokenServer?.clearLog();
      },
      failNext: (path, fault = { status: 500 }) => void proxy.faults.push({ path, fault, remaining: fault.times ?? 1 }),
      corruptBlob: (digest, times = Infinity) =>
        void proxy.faults.push({ path: `/blobs/${digest}`, fault: { method: 'GET', corrupt: true }, remaining: times }),
      clearFaults: () => void proxy.faults.splice(0),
      faults: () => proxy.faults.map((f) => ({ ...f })),
      serveStatic: (path, data, contentType = 'application/octet-stream') => {
        proxy.statics.set(path, { data: Buffer.from(data), contentType });
        return `http://${proxy.host}${path}`;
      },
      client: (o = {}) => new RegistryClient(`http://${proxy.host}`, {
        credentials: o.credentials === undefined ? credentials : o.credentials,
        userAgent: o.userAgent,
      }),
      stderr: launched.stderr,
      stop: cleanup,
    };
    return registry;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function firstUser(users: Record<string, string>): Credentials | null {
  const first = Object.entries(users)[0];
  return first ? { username: first[0], password: first[1] } : null;
}

/** A YAML double-quoted scalar (JSON strings are valid ones). */
function q(s: string): string {
  return JSON.stringify(s);
}

// ---------------------------------------------------------------------------------------
// Processes

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

/** Never leave a registry or its files behind, even when a test file dies without its after() hooks. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.kill('SIGKILL');
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

function track(proc: ChildProcess): void {
  installExitHook();
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

function trackDir(dir: string): () => Promise<void> {
  installExitHook();
  liveDirs.add(dir);
  return async () => {
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** A port that was free a moment ago (bind 0, read, close). */
export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function launchRegistry(dir: string, configFor: (port: number) => string): Promise<{ proc: ChildProcess; port: number; stderr: () => string }> {
  const configPath = join(dir, 'config.yml');
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    await writeFile(configPath, configFor(port));
    const proc = spawn(registryBinary, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    track(proc);
    let output = '';
    const keep = (c: Buffer) => {
      output += c.toString();
      if (output.length > 256 * 1024) output = output.slice(-128 * 1024);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const spawnError = new Promise<Error>((resolve) => proc.once('error', resolve));
    let failure: Error | undefined;
    void spawnError.then((e) => (failure = e));

    const deadline = Date.now() + 15_000;
    for (;;) {
      if (failure) throw new Error(`cannot run ${registryBinary}: ${failure.message}`);
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      const res = await httpRequest(`http://127.0.0.1:${port}/v2/`, { timeoutMs: 1000 }).catch(() => undefined);
      if (res && (res.status === 200 || res.status === 401) && res.headers['docker-distribution-api-version']) {
        return { proc, port, stderr: () => output };
      }
      if (Date.now() > deadline) {
        await stopProcess(proc);
        throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${output}`);
      }
      await sleep(20);
    }
    lastError = output;
    if (!/address already in use/.test(output)) {
      throw new Error(`docker-registry exited with ${proc.exitCode ?? proc.signalCode}: ${output}`);
    }
  }
  throw new Error(`docker-registry could not bind a port: ${lastError}`);
}

// ---------------------------------------------------------------------------------------
// The logging, fault-injecting reverse proxy

interface PendingFault {
  path: RegExp | string;
  fault: Fault;
  remaining: number;
}

interface Proxy {
  host: string;
  log: RequestLogEntry[];
  faults: PendingFault[];
  statics: Map<string, { data: Buffer; contentType: string }>;
  stop(): Promise<void>;
}

async function startProxy(upstreamPort: number): Promise<Proxy> {
  const log: RequestLogEntry[] = [];
  const faults: PendingFault[] = [];
  const statics = new Map<string, { data: Buffer; contentType: string }>();
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

  const takeFault = (method: string, path: string, pathname: string): Fault | undefined => {
    for (let i = 0; i < faults.length; i++) {
      const f = faults[i]!;
      if (f.fault.method !== undefined && f.fault.method.toUpperCase() !== method) continue;
      const hit = typeof f.path === 'string' ? pathname.includes(f.path) : f.path.test(path);
      if (!hit) continue;
      if (--f.remaining <= 0) faults.splice(i, 1);
      return f.fault;
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const pathname = path.split('?')[0]!;
    const authHeader = req.headers.authorization;
    const entry: RequestLogEntry = {
      method, path, pathname, status: 0, bytes: 0, aborted: false, fault: undefined,
      auth: authHeader === undefined ? undefined : /^basic /i.test(authHeader) ? 'basic' : /^bearer /i.test(authHeader) ? 'bearer' : 'other',
      userAgent: req.headers['user-agent'], range: req.headers.range, time: Date.now(), durationMs: 0,
    };
    log.push(entry);
    res.once('close', () => {
      entry.durationMs = Date.now() - entry.time;
      if (!res.writableFinished) entry.aborted = true;
    });

    const fault = takeFault(method, path, pathname);
    if (fault) entry.fault = describeFault(fault);
    if (fault?.delayMs) await sleep(fault.delayMs);
    if (fault?.drop) {
      req.resume();
      entry.aborted = true;
      req.socket.destroy();
      return;
    }
    if (fault?.status !== undefined) {
      req.resume();
      const body = Buffer.from(fault.body ?? JSON.stringify({
        errors: [{ code: fault.status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN', message: `injected ${fault.status}`, detail: null }],
      }));
      entry.status = fault.status;
      res.writeHead(fault.status, { 'content-type': 'application/json', 'content-length': body.length, ...fault.headers });
      await sendBody(res, body, body.length, fault, entry);
      return;
    }

    const file = statics.get(pathname);
    if (file && (method === 'GET' || method === 'HEAD')) {
      req.resume();
      entry.status = 200;
      res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.data.length });
      if (method === 'HEAD') return void res.end();
      await sendBody(res, file.data, file.data.length, fault, entry);
      return;
    }

    const upReq = httpRequestRaw({
      host: '127.0.0.1', port: upstreamPort, method, path, headers: req.headers, agent,
    });
    req.pipe(upReq);
    upReq.on('error', (err) => {
      if (!res.headersSent) {
        entry.status = 502;
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy: ${err.message}`);
      } else {
        res.destroy();
      }
    });
    res.once('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });
    upReq.on('response', (upRes) => {
      entry.status = upRes.statusCode ?? 0;
      const length = Number(upRes.headers['content-length'] ?? -1);
      if (fault?.replaceBody !== undefined) {
        const body = Buffer.from(fault.replaceBody);
        const headers: OutgoingHttpHeaders = { ...upRes.headers, 'content-length': body.length };
        delete headers['transfer-encoding'];
        upRes.resume();
        res.writeHead(entry.status, headers);
        void sendBody(res, body, body.length, { ...fault, replaceBody: undefined }, entry);
        return;
      }
      res.writeHead(entry.status, upRes.rawHeaders);
      if (method === 'HEAD' || entry.status === 204 || entry.status === 304) {
        upRes.resume();
        res.end();
        return;
      }
      void sendBody(res, upRes, length, fault, entry);
    });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(`proxy failure: ${String(err)}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    log,
    faults,
    statics,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

function describeFault(f: Fault): string {
  return Object.entries(f)
    .filter(([k, v]) => k !== 'times' && k !== 'method' && v !== undefined)
    .map(([k, v]) => (k === 'body' || k === 'replaceBody' ? k : `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`))
    .join(',');
}

/** Streams a body to the client, applying corrupt / truncate / stall. */
async function sendBody(
  res: ServerResponse,
  source: Readable | Buffer,
  length: number,
  fault: Fault | undefined,
  entry: RequestLogEntry,
): Promise<void> {
  const corruptAt = fault?.corrupt ? (length > 0 ? Math.floor(length / 2) : 0) : -1;
  const cutAt = fault?.truncateAfterBytes ?? fault?.stallAfterBytes;
  const cut = (): void => {
    entry.aborted = true;
    if (fault?.truncateAfterBytes !== undefined) {
      // Let the bytes written so far reach the client, then reset.
      setTimeout(() => res.destroy(), 20);
    }
    // stall: leave the response open; the client times out, or stop() closes it.
  };
  if (cutAt !== undefined && entry.bytes >= cutAt) {
    res.flushHeaders();
    if (!Buffer.isBuffer(source)) source.destroy();
    return cut();
  }
  let offset = 0;
  const onChunk = (chunk: Buffer): boolean => {
    if (corruptAt >= offset && corruptAt < offset + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[corruptAt - offset] = chunk[corruptAt - offset]! ^ 0xff;
    }
    offset += chunk.length;
    if (cutAt !== undefined && entry.bytes + chunk.length >= cutAt) {
      const part = chunk.subarray(0, cutAt - entry.bytes);
      entry.bytes += part.length;
      if (part.length > 0) res.write(part);
      else res.flushHeaders();
      cut();
      return false;
    }
    entry.bytes += chunk.length;
    return res.write(chunk);
  };
  if (Buffer.isBuffer(source)) {
    onChunk(source);
    if (!entry.aborted) res.end();
    return;
  }
  source.on('data', (chunk: Buffer) => {
    if (entry.aborted) return;
    if (!onChunk(chunk)) {
      if (entry.aborted) source.destroy();
      else {
        source.pause();
        res.once('drain', () => source.resume());
      }
    }
  });
  source.on('end', () => {
    if (!entry.aborted) res.end();
  });
  source.on('error', () => res.destroy());
}
