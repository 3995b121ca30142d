// The streaming HTTP server: the URLs the Exec, Attach and PortForward RPCs
// hand out, each naming a cached request by a single-use token. A client
// upgrades the request to SPDY/3.1 or WebSocket and the session runs on the
// upgraded connection. Like the kubelet's library, GET and POST are both
// accepted and protocol versions are negotiated per request.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { AttachRequest, ExecRequest, PortForwardRequest } from '../proto/cri.js';
import type { StreamingBackend } from './backend.js';
import { parsePort, portForwardProtocol } from './port_forward.js';
import { RequestCache, type CachedRequest } from './request_cache.js';
import { serveSpdyPortForward } from './spdy_port_forward.js';
import { serveSpdyRemoteCommand, spdyRemoteCommandProtocols } from './spdy_remote_command.js';
import { acceptWebSocket, handshakeProblem, isWebSocketUpgrade, offeredSubprotocols, WebSocketConnection } from './websocket.js';
import { serveWsPortForward, spdyTunnelProtocol, WebSocketByteStream, wsPortForwardProtocols } from './ws_port_forward.js';
import { serveWsRemoteCommand, wsRemoteCommandProtocols } from './ws_remote_command.js';

export interface StreamServerOptions {
  address: string;
  /** 0: any free port. */
  port: number;
  backend: StreamingBackend;
  log: Logger;
  /** Token lifetime; one minute unless a test shortens it. */
  tokenTtlMs?: number;
  maxInFlightRequests?: number;
  /** Time a client has to open the streams a session needs. */
  streamCreationTimeoutMs?: number;
  /** A connection with no traffic either way for this long is closed. */
  idleTimeoutMs?: number;
}

const defaultStreamCreationTimeoutMs = 30_000;
const defaultIdleTimeoutMs = 4 * 60 * 60 * 1000;
/** Time a connection has to send its request before it is dropped. */
const requestPhaseTimeoutMs = 30_000;
/** Largest WebSocket message accepted from a client. */
const maxWebSocketMessage = 1024 * 1024;

type Respond = (status: number, body: string, headers?: [string, string][]) => void;

export class StreamServer {
  private readonly cache: RequestCache;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private base = '';

  constructor(private readonly options: StreamServerOptions) {
    this.cache = new RequestCache({ ttlMs: options.tokenTtlMs, maxEntries: options.maxInFlightRequests });
    // Node's request and header timeouts run on a 30 s interval timer even when idle; per-socket
    // inactivity timeouts (event-driven) bound the request phase and the session instead.
    this.server = createServer({ requestTimeout: 0, headersTimeout: 0, connectionsCheckingInterval: 0x7fffffff }, (req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.setTimeout(requestPhaseTimeoutMs, () => socket.destroy());
    });
    this.server.on('clientError', (_err, socket: Duplex) => socket.destroy());
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.address, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const { address, port } = this.server.address() as AddressInfo;
    this.base = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
    this.options.log.info({ url: this.base }, 'streaming server listening');
  }

  /** Stops listening and cuts every open session (their processes are killed through the abort). */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** http://ADDR:PORT of the listener. */
  get baseUrl(): string {
    return this.base;
  }

  execUrl(request: ExecRequest): string {
    return this.urlFor({ kind: 'exec', request });
  }

  attachUrl(request: AttachRequest): string {
    return this.urlFor({ kind: 'attach', request });
  }

  portForwardUrl(request: PortForwardRequest): string {
    return this.urlFor({ kind: 'portforward', request });
  }

  private urlFor(entry: CachedRequest): string {
    return `${this.base}/${entry.kind}/${this.cache.insert(entry)}`;
  }

  /** A request that did not ask to upgrade: nothing can be served on it. */
  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, (status, body, headers = []) => {
      for (const [k, v] of headers) res.appendHeader(k, v);
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(body + '\n');
    }, undefined);
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', (err) => this.options.log.debug({ err }, 'streaming connection error'));
    // A session may be quiet for long (an idle shell); only a much longer silence ends it.
    socket.setTimeout(this.options.idleTimeoutMs ?? defaultIdleTimeoutMs);
    this.route(req, rawResponder(socket), { socket, head });
  }

  private route(req: IncomingMessage, respond: Respond, upgraded: { socket: Socket; head: Buffer } | undefined): void {
    const url = new URL(req.url ?? '/', 'http://streaming');
    const match = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    if (!match) return respond(404, 'not found');
    if (req.method !== 'GET' && req.method !== 'POST') return respond(405, `method ${req.method} not allowed`);
    const entry = this.cache.consume(match[2]!);
    if (!entry || entry.kind !== match[1]) return respond(404, 'not found: unknown or expired token');
    if (!upgraded) return respond(400, 'unable to upgrade: missing upgrade headers in request');
    const log = this.options.log.child({ stream: entry.kind });
    if (isWebSocketUpgrade(req)) return this.serveWebSocket(req, url, entry, upgraded, respond, log);
    return this.serveSpdy(req, entry, upgraded, respond, log);
  }

  private serveSpdy(req: IncomingMessage, entry: CachedRequest, { socket, head }: { socket: Socket; head: Buffer }, respond: Respond, log: Logger): void {
    const connection = (req.headers.connection ?? '').toLowerCase();
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (!connection.includes('upgrade') || !upgrade.includes('spdy/3.1')) {
      return respond(400, `unable to upgrade: missing upgrade headers in request: Connection=${req.headers.connection ?? ''} Upgrade=${req.headers.upgrade ?? ''}`);
    }
    const supported = entry.kind === 'portforward' ? [portForwardProtocol] : spdyRemoteCommandProtocols;
    const offered = headerValues(req, 'x-stream-protocol-version');
    if (offered.length === 0) return respond(400, 'unable to upgrade: X-Stream-Protocol-Version is required');
    const protocol = offered.find((p) => supported.includes(p));
    if (!protocol) {
      return respond(403, `unable to upgrade: unable to negotiate protocol: client supports ${offered.join(', ')}, server supports ${supported.join(', ')}`,
        supported.map((p): [string, string] => ['X-Accepted-Stream-Protocol-Versions', p]));
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    if (head.length > 0) socket.unshift(head);
    log.debug({ protocol }, 'spdy session');
    const common = { transport: socket, backend: this.options.backend, log, streamCreationTimeoutMs: this.streamCreationTimeoutMs };
    if (entry.kind === 'portforward') serveSpdyPortForward({ ...common, request: entry.request });
    else serveSpdyRemoteCommand({ ...common, protocol, command: entry });
  }

  private serveWebSocket(req: IncomingMessage, url: URL, entry: CachedRequest, { socket, head }: { socket: Socket; head: Buffer }, respond: Respond, log: Logger): void {
    const problem = handshakeProblem(req);
    if (problem) return respond(400, `unable to upgrade: ${problem}`);
    let ports: number[] = [];
    let supported: string[];
    if (entry.kind === 'portforward') {
      supported = [...wsPortForwardProtocols, spdyTunnelProtocol];
      const fromQuery = url.searchParams.getAll('port');
      const parsed = fromQuery.map(parsePort);
      if (parsed.some((p) => p === undefined)) return respond(400, `invalid port in query: ${fromQuery.join(', ')}`);
      ports = fromQuery.length > 0 ? (parsed as number[]) : entry.request.port;
    } else {
      supported = wsRemoteCommandProtocols;
    }
    const offered = offeredSubprotocols(req);
    const protocol = offered.length === 0 ? '' : offered.find((p) => supported.includes(p));
    if (protocol === undefined) return respond(400, `unable to upgrade: requested protocol(s) are not supported: ${offered.join(', ')}; supports ${supported.join(', ')}`);
    if (entry.kind === 'portforward' && protocol !== spdyTunnelProtocol && ports.length === 0) return respond(400, 'unable to upgrade: no port to forward');
    acceptWebSocket(req, socket, protocol || undefined);
    const ws = new WebSocketConnection(socket, head, { maxMessage: maxWebSocketMessage });
    log.debug({ protocol, transport: 'websocket' }, 'websocket session');
    const backend = this.options.backend;
    if (entry.kind !== 'portforward') {
      void serveWsRemoteCommand({ ws, protocol, command: entry, backend, log }).catch((err: unknown) => {
        log.warn({ err }, 'websocket session failed');
        ws.close(1011);
      });
    } else if (protocol === spdyTunnelProtocol) {
      serveSpdyPortForward({ transport: new WebSocketByteStream(ws), request: entry.request, backend, log, streamCreationTimeoutMs: this.streamCreationTimeoutMs });
    } else {
      void serveWsPortForward({ ws, protocol, podId: entry.request.podSandboxId, ports, backend, log });
    }
  }

  private get streamCreationTimeoutMs(): number {
    return this.options.streamCreationTimeoutMs ?? defaultStreamCreationTimeoutMs;
  }
}

/** Every value of a repeatable header, comma-separated lists split. */
function headerValues(req: IncomingMessage, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === name) values.push(...req.rawHeaders[i + 1]!.split(','));
  }
  return values.map((v) => v.trim()).filter((v) => v.length > 0);
}

/** An HTTP answer written straight to a socket that asked to upgrade and was refused. */
function rawResponder(socket: Socket): Respond {
  return (status, body, headers = []) => {
    const text = body + '\n';
    const lines = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
      'Content-Type: text/plain; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(text)}`,
      'Connection: close',
      ...headers.map(([k, v]) => `${k}: ${v}`),
    ];
    socket.end(lines.join('\r\n') + '\r\n\r\n' + text);
  };
}
