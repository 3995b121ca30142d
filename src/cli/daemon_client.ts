import { credentials, makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { serviceDefinition } from '../proto/codec.js';

/**
 * A client for the daemon's socket, for the CLI and the tests: each service
 * by full name, calls by proto method name, messages in the handlers' shape.
 */
/** What the kubelet and crictl accept in one reply; grpc-js would otherwise stop at 4 MiB. */
const maxReplyBytes = 16 * 1024 * 1024;

export class DaemonClient {
  private readonly clients = new Map<string, Client>();

  constructor(
    private readonly socketPath: string,
    private readonly options: Record<string, number> = {},
  ) {}

  unary<T = any>(service: string, method: string, request: object, deadlineMs?: number): Promise<T> {
    const client = this.client(service);
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, Function>)[method];
      if (!fn) return reject(new Error(`${service} has no method ${method}`));
      const options = deadlineMs ? { deadline: Date.now() + deadlineMs } : {};
      fn.call(client, request, options, (err: ServiceError | null, reply: T) => (err ? reject(err) : resolve(reply)));
    });
  }

  /** Opens a server stream; `onMessage` sees each reply; resolves at its end. */
  stream<T = any>(service: string, method: string, request: object, onMessage: (reply: T) => void): { done: Promise<void>; cancel: () => void } {
    const client = this.client(service);
    const call = (client as unknown as Record<string, Function>)[method]!.call(client, request) as NodeJS.EventEmitter & { cancel(): void };
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', onMessage);
      call.on('error', reject);
      call.on('end', resolve);
    });
    return { done, cancel: () => call.cancel() };
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(service: string): Client {
    let client = this.clients.get(service);
    if (!client) {
      const Ctor = makeGenericClientConstructor(serviceDefinition(service), service);
      client = new Ctor(`unix://${this.socketPath}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': maxReplyBytes, ...this.options });
      this.clients.set(service, client);
    }
    return client;
  }
}
