// PullImage: validation and error mapping around the pull pipeline.
import { status } from '@grpc/grpc-js';
import { ConfigError } from '../config/load.js';
import { AuthFileError } from '../image/auth_file.js';
import { ImageFormatError } from '../image/manifest.js';
import { PolicyError } from '../image/policy.js';
import { PolicyDeniedError } from '../image/pull.js';
import { InvalidReferenceError } from '../image/reference.js';
import { BlockedRegistryError, RegistriesConfError } from '../image/registries_conf.js';
import { RegistryTlsError } from '../image/registry_tls.js';
import { RegistryError, type RegistryCredentials } from '../image/registry_client.js';
import { isNativeError } from '../native/index.js';
import type { AuthConfig, ImageServiceMethods } from '../proto/cri.js';
import { invalidArgument, RpcError, type ImageHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function imagePullHandlers(ctx: ServerContext): ImageHandlers {
  return { PullImage: pullImage(ctx) };
}

function pullImage(ctx: ServerContext): UnaryHandler<ImageServiceMethods['PullImage']> {
  return async (request) => {
    const name = request.image?.image ?? '';
    if (name === '') throw invalidArgument('image.image: required');
    const credentials = request.auth ? credentialsFromAuth(request.auth) : undefined;
    try {
      const { image } = await ctx.puller.pull(name, credentials);
      return { imageRef: image.id };
    } catch (err) {
      throw pullStatus(name, err);
    }
  };
}

/** CRI AuthConfig: username/password, `auth` (base64 user:password), or tokens. */
function credentialsFromAuth(auth: AuthConfig): RegistryCredentials | undefined {
  if (auth.registryToken) return { registryToken: auth.registryToken };
  if (auth.identityToken) return { identityToken: auth.identityToken };
  if (auth.username || auth.password) return { username: auth.username, password: auth.password };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalidArgument('auth.auth: expected base64 of "username:password"');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

function pullStatus(name: string, err: unknown): RpcError {
  const message = `pulling image "${name}": ${err instanceof Error ? err.message : String(err)}`;
  if (err instanceof InvalidReferenceError) return new RpcError(status.INVALID_ARGUMENT, `image.image: ${(err as Error).message}`);
  if (err instanceof BlockedRegistryError || err instanceof PolicyDeniedError) return new RpcError(status.PERMISSION_DENIED, message);
  // The image or the node's configuration is at fault, not the request.
  const badContentOrConfig = [ImageFormatError, ConfigError, RegistriesConfError, PolicyError, AuthFileError, RegistryTlsError];
  if (badContentOrConfig.some((type) => err instanceof type)) return new RpcError(status.FAILED_PRECONDITION, message);
  if (isNativeError(err)) return new RpcError(status.FAILED_PRECONDITION, message, { cause: err });
  if (err instanceof RegistryError) {
    const codes: Record<RegistryError['kind'], status> = {
      unauthorized: status.UNAUTHENTICATED,
      denied: status.PERMISSION_DENIED,
      'not-found': status.NOT_FOUND,
      'rate-limited': status.RESOURCE_EXHAUSTED,
      timeout: status.DEADLINE_EXCEEDED,
      unavailable: status.UNAVAILABLE,
      protocol: status.FAILED_PRECONDITION,
      'too-large': status.FAILED_PRECONDITION,
    };
    return new RpcError(codes[err.kind], message);
  }
  return new RpcError(status.INTERNAL, message, { cause: err });
}
