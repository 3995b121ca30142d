import {
  Server,
  ServerCredentials,
  status,
  type ServerErrorResponse,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { serviceDefinition } from '../proto/codec.js';
import { RpcError } from './rpc.js';

/** The kubelet and crictl refuse replies above 16 MiB; we hold ourselves to the same. */
const maxMessageBytes = 16 * 1024 * 1024;

type AnyUnary = (request: unknown) => Promise<unknown>;
type AnyStream = (request: unknown, send: (reply: unknown) => Promise<void>, signal: AbortSignal) => Promise<void>;

/** A gRPC service by its full name, with the handlers it has so far. */
export interface ServiceHandlers {
  name: string;
  handlers: object;
}

export function createGrpcServer(log: Logger, services: ServiceHandlers[]): Server {
  const server = new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  });
  for (const service of services) addService(server, log, service.name, service.handlers as Record<string, unknown>);
  return server;
}

/** Every method of the service is registered; those without a handler answer UNIMPLEMENTED. */
function addService(server: Server, log: Logger, serviceName: string, handlers: Record<string, unknown>): void {
  const definition: ServiceDefinition = serviceDefinition(serviceName);
  const implementation: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const fullName = `${serviceName}/${name}`;
    const handler = handlers[name];
    if (method.requestStream) {
      // The CRI has no client-streaming RPCs; a schema change that adds one must come with a handler.
      throw new Error(`${fullName}: client streaming is not supported`);
    }
    if (method.responseStream) {
      implementation[name] = serverStream(log, fullName, (handler as AnyStream | undefined) ?? unimplemented(fullName));
    } else {
      implementation[name] = unary(log, fullName, (handler as AnyUnary | undefined) ?? unimplemented(fullName));
    }
  }
  server.addService(definition, implementation);
}

function unary(log: Logger, method: string, handler: AnyUnary) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    const started = process.hrtime.bigint();
    handler(call.request).then(
      (reply) => {
        logCall(log, method, started, status.OK);
        callback(null, reply);
      },
      (err: unknown) => {
        const response = toStatus(err);
        logCall(log, method, started, response.code ?? status.UNKNOWN, err);
        callback(response);
      },
    );
  };
}

function serverStream(log: Logger, method: string, handler: AnyStream) {
  return (call: ServerWritableStream<unknown, unknown>): void => {
    const started = process.hrtime.bigint();
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    const send = (reply: unknown): Promise<void> =>
      new Promise((resolve) => {
        if (call.write(reply)) resolve();
        else call.once('drain', resolve);
      });
    handler(call.request, send, abort.signal).then(
      () => {
        logCall(log, method, started, status.OK);
        call.end();
      },
      (err: unknown) => {
        const response = toStatus(err);
        logCall(log, method, started, response.code ?? status.UNKNOWN, err);
        call.emit('error', response);
      },
    );
  };
}

function unimplemented(method: string): () => Promise<never> {
  return async () => {
    throw new RpcError(status.UNIMPLEMENTED, `${method} is not implemented by skiff yet`);
  };
}

function toStatus(err: unknown): Partial<ServerErrorResponse> {
  if (err instanceof RpcError) return { code: err.code, details: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.INTERNAL, details: message };
}

function logCall(log: Logger, method: string, started: bigint, code: status, err?: unknown): void {
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const fields = { method, ms: Math.round(ms * 1000) / 1000, code: status[code] };
  // Expected outcomes stay at debug; failures are logged with their cause.
  if (code === status.OK || code === status.NOT_FOUND || code === status.UNIMPLEMENTED) {
    log.debug(fields, 'rpc');
  } else {
    log.error({ ...fields, err }, 'rpc failed');
  }
}

/** Binds a unix socket; resolves once it accepts connections. */
export function bindUnix(server: Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
}
