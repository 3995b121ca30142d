// Exec, Attach and PortForward: validate the request (the only place it is
// validated, as in the kubelet's streaming library), then hand out a URL on
// the streaming server where the client upgrades and the session runs.
import { status } from '@grpc/grpc-js';
import type { RuntimeServiceMethods } from '../proto/cri.js';
import { invalidArgument, notFound, RpcError, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function containerStreamHandlers(ctx: ServerContext): RuntimeHandlers {
  return { Exec: exec(ctx), Attach: attach(ctx), PortForward: portForward(ctx) };
}

function exec(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['Exec']> {
  return async (request) => {
    const containerId = runningContainer(ctx, request.containerId);
    if (request.cmd.length === 0) throw invalidArgument('cmd: required');
    checkStdio(request);
    return { url: ctx.streaming.execUrl({ ...request, containerId }) };
  };
}

function attach(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['Attach']> {
  return async (request) => {
    const containerId = runningContainer(ctx, request.containerId);
    checkStdio(request);
    return { url: ctx.streaming.attachUrl({ ...request, containerId }) };
  };
}

function portForward(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['PortForward']> {
  return async (request) => {
    if (!request.podSandboxId) throw invalidArgument('pod_sandbox_id: required');
    const pod = ctx.pods.sandboxes.resolve(request.podSandboxId);
    if (!pod || pod.state === 'creating') throw notFound(`pod sandbox ${request.podSandboxId} not found`);
    if (pod.state !== 'ready') throw new RpcError(status.FAILED_PRECONDITION, `pod sandbox ${pod.id} is not ready`);
    const bad = request.port.find((p) => !Number.isInteger(p) || p < 1 || p > 65535);
    if (bad !== undefined) throw invalidArgument(`port: ${bad} is not a port number (1-65535)`);
    return { url: ctx.streaming.portForwardUrl({ ...request, podSandboxId: pod.id }) };
  };
}

/** The full id of a running container named by id or unique prefix. */
function runningContainer(ctx: ServerContext, containerId: string): string {
  if (!containerId) throw invalidArgument('container_id: required');
  const c = ctx.containers.containers.resolve(containerId);
  if (!c || c.phase === 'creating') throw notFound(`container ${containerId} not found`);
  if (c.phase !== 'running') throw new RpcError(status.FAILED_PRECONDITION, `container ${c.id} is not running (${c.phase})`);
  return c.id;
}

function checkStdio(request: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): void {
  if (!request.stdin && !request.stdout && !request.stderr) throw invalidArgument('one of stdin, stdout, or stderr must be set');
  if (request.tty && request.stderr) throw invalidArgument('tty and stderr cannot both be true: a terminal has one output stream');
}
