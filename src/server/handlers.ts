// Which file serves which RPC. Methods absent here answer UNIMPLEMENTED.
import type { ImageHandlers, RuntimeHandlers, ServerContext } from './rpc.js';
import { runtimeInfoHandlers } from './runtime_info.js';

export function runtimeHandlers(ctx: ServerContext): RuntimeHandlers {
  return { ...runtimeInfoHandlers(ctx) };
}

export function imageHandlers(_ctx: ServerContext): ImageHandlers {
  return {};
}
