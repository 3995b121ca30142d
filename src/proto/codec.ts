import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../package_info.js';

/** How decoded messages look to handlers; the generated types in ./generated/cri.ts match it. */
const decodeOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
};

export const criProtoPath = join(packageRoot, 'proto', 'runtime', 'v1', 'api.proto');

let cachedRoot: protobuf.Root | undefined;

/** The CRI schema, parsed once (synchronously, at start-up). */
export function criRoot(): protobuf.Root {
  if (!cachedRoot) {
    cachedRoot = protobuf.loadSync(criProtoPath);
    cachedRoot.resolveAll();
  }
  return cachedRoot;
}

function codecFor(type: protobuf.Type): { serialize: (v: object) => Buffer; deserialize: (b: Buffer) => object } {
  return {
    serialize: (value) => Buffer.from(type.encode(type.fromObject(value)).finish()),
    deserialize: (bytes) => type.toObject(type.decode(bytes), decodeOptions),
  };
}

/** A grpc-js service definition for one CRI service, keyed by the proto method name. */
export function serviceDefinition(serviceName: string): ServiceDefinition {
  const service = criRoot().lookupService(serviceName);
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
