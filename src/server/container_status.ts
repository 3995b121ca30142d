// ContainerStatus and ListContainers.
import type { ContainerRecord } from '../container/containers.js';
import { ContainerState, type Container, type ContainerFilter, type ContainerStatus, type Init, type RuntimeServiceMethods } from '../proto/cri.js';
import { invalidArgument, notFound, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function containerStatusHandlers(ctx: ServerContext): RuntimeHandlers {
  return { ContainerStatus: containerStatus(ctx), ListContainers: listContainers(ctx) };
}

function containerStatus(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['ContainerStatus']> {
  return async (request) => {
    if (!request.containerId) throw invalidArgument('container_id: required');
    const c = ctx.containers.containers.resolve(request.containerId);
    if (!c || c.phase === 'creating') throw notFound(`container ${request.containerId} not found`);
    const status = containerStatusOf(c);
    const info = request.verbose
      ? { info: JSON.stringify({ runtimeHandler: c.runtimeHandler, podId: c.podId, name: c.name, stopSignal: c.stopSignal }) }
      : {};
    return { status, info };
  };
}

/** A container record as the CRI ContainerStatus (also carried by container events). */
export function containerStatusOf(c: ContainerRecord): Init<ContainerStatus> {
  return {
    id: c.id,
    metadata: c.config.metadata,
    state: stateOf(c),
    createdAt: c.createdAt,
    startedAt: c.startedAt,
    finishedAt: c.finishedAt,
    exitCode: c.exitCode,
    image: { image: c.config.image?.image ?? c.imageId },
    imageRef: c.imageRef,
    imageId: c.imageId,
    reason: c.reason,
    message: c.message,
    labels: c.config.labels,
    annotations: c.config.annotations,
    mounts: c.config.mounts,
    logPath: c.logPath,
    user: { linux: { uid: c.user.uid, gid: c.user.gid, supplementalGroups: c.user.additionalGids } },
  };
}

/** The containers a filter selects: for ListContainers, ListContainerStats and their Stream* forms alike. */
export function selectContainers(ctx: ServerContext, f: Partial<ContainerFilter> | null | undefined): ContainerRecord[] {
  return ctx.containers.containers
    .list()
    .filter((c) => c.phase !== 'creating')
    .filter((c) => !f?.id || c.id.startsWith(f.id))
    .filter((c) => !f?.podSandboxId || c.podId.startsWith(f.podSandboxId))
    .filter((c) => !f?.state || stateOf(c) === f.state.state)
    .filter((c) => Object.entries(f?.labelSelector ?? {}).every(([k, v]) => c.config.labels[k] === v));
}

function listContainers(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['ListContainers']> {
  return async (request) => {
    const containers = selectContainers(ctx, request.filter).map(
        (c): Init<Container> => ({
          id: c.id,
          podSandboxId: c.podId,
          metadata: c.config.metadata,
          image: { image: c.config.image?.image ?? c.imageId },
          imageRef: c.imageRef,
          imageId: c.imageId,
          state: stateOf(c),
          createdAt: c.createdAt,
          labels: c.config.labels,
          annotations: c.config.annotations,
        }),
      );
    return { containers };
  };
}

function stateOf(c: ContainerRecord): ContainerState {
  switch (c.phase) {
    case 'created':
      return ContainerState.CONTAINER_CREATED;
    case 'running':
      return ContainerState.CONTAINER_RUNNING;
    case 'exited':
      return ContainerState.CONTAINER_EXITED;
    default:
      return ContainerState.CONTAINER_UNKNOWN;
  }
}
