import { credentials, makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { serviceDefinition } from '../../src/proto/codec.js';
import { ImageServiceName, RuntimeServiceName } from '../../src/proto/cri.js';

type UnaryFn = (request: object) => Promise<any>;

/** A CRI client over the real wire: the same proto, encoded and decoded by grpc-js. */
export interface CriClient {
  runtime: Record<string, UnaryFn>;
  image: Record<string, UnaryFn>;
  /** Opens a server stream; resolves with the first error or the collected replies. */
  stream(service: 'runtime' | 'image', method: string, request: object): Promise<unknown[]>;
  close(): void;
}

export function criClient(socketPath: string): CriClient {
  const clients = {
    runtime: makeClient(RuntimeServiceName, socketPath),
    image: makeClient(ImageServiceName, socketPath),
  };
  const unaryMethods = (client: Client): Record<string, UnaryFn> =>
    new Proxy({}, {
      get: (_target, name: string) => (request: object) =>
        new Promise((resolve, reject) => {
          const method = (client as unknown as Record<string, Function>)[name];
          if (!method) return reject(new Error(`no method ${name}`));
          method.call(client, request, (err: ServiceError | null, reply: unknown) => (err ? reject(err) : resolve(reply)));
        }),
    });
  return {
    runtime: unaryMethods(clients.runtime),
    image: unaryMethods(clients.image),
    stream: (service, method, request) =>
      new Promise((resolve, reject) => {
        const fn = (clients[service] as unknown as Record<string, Function>)[method]!;
        const call = fn.call(clients[service], request) as NodeJS.EventEmitter;
        const replies: unknown[] = [];
        call.on('data', (r: unknown) => replies.push(r));
        call.on('error', reject);
        call.on('end', () => resolve(replies));
      }),
    close: () => {
      clients.runtime.close();
      clients.image.close();
    },
  };
}

function makeClient(serviceName: string, socketPath: string): Client {
  const Ctor = makeGenericClientConstructor(serviceDefinition(serviceName), serviceName);
  // Tests start daemons and expect them at once: reconnect quickly instead of grpc's 1 s backoff.
  return new Ctor(`unix://${socketPath}`, credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 20,
    'grpc.max_reconnect_backoff_ms': 200,
  });
}
