import { DaemonClient } from '../../src/cli/daemon_client.js';
import { ImageServiceName, RuntimeServiceName } from '../../src/proto/cri.js';

type UnaryFn = (request: object) => Promise<any>;

/** A CRI client over the real wire: the same proto, encoded and decoded by grpc-js. */
export interface CriClient {
  runtime: Record<string, UnaryFn>;
  image: Record<string, UnaryFn>;
  /** Opens a server stream; resolves with the first error or the collected replies. */
  stream(service: 'runtime' | 'image', method: string, request: object): Promise<unknown[]>;
  daemon: DaemonClient;
  close(): void;
}

export function criClient(socketPath: string): CriClient {
  // Tests start daemons and expect them at once: reconnect quickly instead of grpc's 1 s backoff.
  const daemon = new DaemonClient(socketPath, { 'grpc.initial_reconnect_backoff_ms': 20, 'grpc.max_reconnect_backoff_ms': 200 });
  const methods = (service: string): Record<string, UnaryFn> =>
    new Proxy({}, { get: (_target, name: string) => (request: object) => daemon.unary(service, name, request) });
  const names = { runtime: RuntimeServiceName, image: ImageServiceName };
  return {
    runtime: methods(RuntimeServiceName),
    image: methods(ImageServiceName),
    stream: async (service, method, request) => {
      const replies: unknown[] = [];
      await daemon.stream(names[service], method, request, (r) => replies.push(r)).done;
      return replies;
    },
    daemon,
    close: () => daemon.close(),
  };
}
