// Every spec error is a gRPC status whose message starts with the CRI field
// it is about, in the proto's own (snake_case) spelling, so the kubelet's
// event says exactly what to fix.

import { status } from '@grpc/grpc-js';
import { RpcError } from '../../server/rpc.js';

/** The request is wrong: fix the pod or container spec. */
export function invalidField(field: string, message: string): RpcError {
  return new RpcError(status.INVALID_ARGUMENT, `${field}: ${message}`);
}

/** The request is fine but the node cannot satisfy it as it stands. */
export function unsatisfiable(field: string, message: string, cause?: unknown): RpcError {
  return new RpcError(status.FAILED_PRECONDITION, `${field}: ${message}`, cause === undefined ? undefined : { cause });
}

/** A CRI feature skiff does not implement (yet). */
export function unsupported(field: string, message: string): RpcError {
  return new RpcError(status.UNIMPLEMENTED, `${field}: ${message}`);
}

/** Renders a user-supplied string for a message: quoted, escaped and cut short. */
export function quote(value: string, max = 120): string {
  const shown = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(shown);
}

/**
 * Checks a path given in the request (inside the container or on the host):
 * absolute, no NUL, no ".." component. Returns it cleaned: no repeated or
 * trailing slashes, no "." components.
 */
export function absolutePath(field: string, path: string): string {
  if (path === '') throw invalidField(field, 'must not be empty');
  if (path.includes('\0')) throw invalidField(field, `${quote(path)} contains a NUL byte`);
  if (!path.startsWith('/')) throw invalidField(field, `${quote(path)} must be an absolute path`);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw invalidField(field, `${quote(path)} must not contain ".."`);
  return `/${parts.join('/')}`;
}
