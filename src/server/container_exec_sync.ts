// ExecSync.
import { execSync } from '../exec/exec_sync.js';
import type { RuntimeServiceMethods } from '../proto/cri.js';
import type { RuntimeHandlers, ServerContext, UnaryHandler } from './rpc.js';

export function containerExecSyncHandlers(ctx: ServerContext): RuntimeHandlers {
  return { ExecSync: execSyncHandler(ctx) };
}

function execSyncHandler(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['ExecSync']> {
  return async (request) => {
    const result = await execSync(ctx.containers, request.containerId, request.cmd, Number(request.timeout));
    return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode };
  };
}
