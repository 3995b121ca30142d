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

/** Told of every finished call: full method name, status name, seconds taken. */
export type CallObserver = (method: string, code: string, seconds: number) => void;

export function createGrpcServer(log: Logger, services: ServiceHandlers[], observe?: CallObserver): Server {
  const server = new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    // Nothing reads channelz here; without it no call keeps tracing state.
    'grpc.enable_channelz': 0,
  });
  const record: CallRecorder = (method, started, code, err) => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    logCall(log, method, seconds, code, err);
    observe?.(method, status[code], seconds);
  };
  for (const service of services) addService(server, record, service.name, service.handlers as Record<string, unknown>);
  return server;
}

/** Every method of the service is registered; those without a handler answer UNIMPLEMENTED. */
type CallRecorder = (method: string, started: bigint, code: status, err?: unknown) => void;

function addService(server: Server, record: CallRecorder, serviceName: string, handlers: Record<string, unknown>): void {
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
      implementation[name] = serverStream(record, fullName, (handler as AnyStream | undefined) ?? unimplemented(fullName));
    } else {
      implementation[name] = unary(record, fullName, (handler as AnyUnary | undefined) ?? unimplemented(fullName));
    }
  }
  server.addService(definition, implementation);
}

function unary(record: CallRecorder, method: string, handler: AnyUnary) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    const started = process.hrtime.bigint();
    // The reply goes out first; the log line and the metrics after it.
    handler(call.request).then(
      (reply) => {
        callback(null, reply);
        record(method, started, status.OK);
      },
      (err: unknown) => {
        const response = toStatus(err);
        callback(response);
        record(method, started, response.code ?? status.UNKNOWN, err);
      },
    );
  };
}

function serverStream(record: CallRecorder, method: string, handler: AnyStream) {
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
        record(method, started, status.OK);
        call.end();
      },
      (err: unknown) => {
        const response = toStatus(err);
        record(method, started, response.code ?? status.UNKNOWN, err);
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

function logCall(log: Logger, method: string, seconds: number, code: status, err?: unknown): void {
  const fields = { method, ms: Math.round(seconds * 1e6) / 1000, code: status[code] };
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
