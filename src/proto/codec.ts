import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../package_info.js';

/** How decoded messages look to handlers; the generated types in ./generated/ match it. */
const decodeOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
};

export const protoFiles = {
  cri: join(packageRoot, 'proto', 'runtime', 'v1', 'api.proto'),
  skiff: join(packageRoot, 'proto', 'skiff', 'v1', 'pull_progress.proto'),
} as const;

const roots = new Map<string, protobuf.Root>();

/** A schema, parsed once (synchronously, at start-up). */
function protoRoot(file: keyof typeof protoFiles): protobuf.Root {
  let root = roots.get(file);
  if (!root) {
    root = protobuf.loadSync(protoFiles[file]);
    root.resolveAll();
    roots.set(file, root);
  }
  return root;
}

function codecFor(type: protobuf.Type): { serialize: (v: object) => Buffer; deserialize: (b: Buffer) => object } {
  return {
    serialize: (value) => Buffer.from(type.encode(type.fromObject(value)).finish()),
    deserialize: (bytes) => type.toObject(type.decode(bytes), decodeOptions),
  };
}

/** A grpc-js service definition, keyed by the proto method name. */
export function serviceDefinition(serviceName: string): ServiceDefinition {
  const file = serviceName.startsWith('skiff.') ? 'skiff' : 'cri';
  const service = protoRoot(file).lookupService(serviceName);
  const definition: Record<string, MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const req = codecFor(method.resolvedRequestType!);
    const res = codecFor(method.resolvedResponseType!);
    definition[method.name] = {
      path: `/${service.fullName.replace(/^\./, '')}/${method.name}`,
      requestStream: method.requestStream ?? false,
      responseStream: method.responseStream ?? false,
      requestSerialize: req.serialize,
      requestDeserialize: req.deserialize,
      responseSerialize: res.serialize,
      responseDeserialize: res.deserialize,
      originalName: method.name,
    };
  }
  return definition as ServiceDefinition;
}
