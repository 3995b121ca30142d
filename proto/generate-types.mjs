// Generates TypeScript declarations for every message, enum and service of a
// .proto file, as the daemon sees them after decoding with protobufjs
// (camelCase field names, int64 as number, enums as numbers, defaults filled).
//
//   node proto/generate-types.mjs proto/runtime/v1/api.proto src/proto/generated/cri.ts
//
// The output is a build artefact (ignored by git): the .proto is the source of truth.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import protobuf from 'protobufjs';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: generate-types.mjs <api.proto> <out.ts>');
  process.exit(2);
}

const root = protobuf.loadSync(input).resolveAll();

/** TS name of a reflected type: nested names joined with '_'. */
function tsName(type) {
  const parts = [type.name];
  for (let t = type.parent; t instanceof protobuf.Type; t = t.parent) parts.unshift(t.name);
  return parts.join('_');
}

const scalar = {
  double: 'number', float: 'number',
  int32: 'number', uint32: 'number', sint32: 'number', fixed32: 'number', sfixed32: 'number',
  int64: 'number', uint64: 'number', sint64: 'number', fixed64: 'number', sfixed64: 'number',
  bool: 'boolean', string: 'string', bytes: 'Uint8Array',
};

function valueType(field) {
  if (field.resolvedType instanceof protobuf.Enum) return tsName(field.resolvedType);
  if (field.resolvedType instanceof protobuf.Type) return tsName(field.resolvedType);
  const t = scalar[field.type];
  if (!t) throw new Error(`unsupported field type ${field.type} of ${field.fullName}`);
  return t;
}

function fieldType(field) {
  if (field.map) {
    const key = scalar[field.keyType] === 'string' ? 'string' : 'number';
    return `Record<${key}, ${valueType(field)}>`;
  }
  const base = valueType(field);
  if (field.repeated) return `${base}[]`;
  if (field.resolvedType instanceof protobuf.Type) return `${base} | null`;
  if (field.hasPresence) return `${base} | null`;
  return base;
}

const out = [];
out.push('// Generated from ' + input + ' by proto/generate-types.mjs. Do not edit.');
out.push('/* eslint-disable */');
out.push('');

const services = [];

function visit(ns) {
  for (const item of ns.nestedArray) {
    if (item instanceof protobuf.Enum) {
      out.push(`export enum ${tsName(item)} {`);
      for (const [name, id] of Object.entries(item.values)) out.push(`  ${name} = ${id},`);
      out.push('}', '');
    } else if (item instanceof protobuf.Type) {
      out.push(`export interface ${tsName(item)} {`);
      for (const field of item.fieldsArray) out.push(`  ${field.name}: ${fieldType(field)};`);
      out.push('}', '');
      visit(item);
    } else if (item instanceof protobuf.Service) {
      services.push(item);
    } else if (item instanceof protobuf.Namespace) {
      visit(item);
    }
  }
}
visit(root);

for (const service of services) {
  out.push(`/** Request and response types of every ${service.name} method. */`);
  out.push(`export interface ${service.name}Methods {`);
  for (const m of service.methodsArray) {
    const req = tsName(m.resolvedRequestType);
    const res = tsName(m.resolvedResponseType);
    const kind = m.requestStream ? 'unsupported' : m.responseStream ? 'serverStream' : 'unary';
    out.push(`  ${m.name}: { kind: '${kind}'; request: ${req}; response: ${res} };`);
  }
  out.push('}', '');
  out.push(`/** Fully qualified gRPC service name of ${service.name}. */`);
  out.push(`export const ${service.name}Name = '${service.fullName.replace(/^\./, '')}';`, '');
}

mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, out.join('\n'));
