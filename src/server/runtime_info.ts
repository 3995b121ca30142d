// Version, Status and RuntimeConfig: what the kubelet asks before anything else.
import { runtimeFeatures } from '../oci/runtime_features.js';
import { handlerProblem, resolveRuntimeHandler } from '../oci/runtime_handlers.js';
import { packageVersion } from '../package_info.js';
import { CgroupDriver, type Init, type RuntimeHandler, type RuntimeServiceMethods } from '../proto/cri.js';
import type { RuntimeHandlers, ServerContext, UnaryHandler } from './rpc.js';

/** The CRI's own version string the kubelet expects in VersionResponse.version. */
const kubeletApiVersion = '0.1.0';

export function runtimeInfoHandlers(ctx: ServerContext): RuntimeHandlers {
  return { Version: version(), Status: statusHandler(ctx), RuntimeConfig: runtimeConfig(ctx) };
}

function version(): UnaryHandler<RuntimeServiceMethods['Version']> {
  return async () => ({
    version: kubeletApiVersion,
    runtimeName: 'skiff',
    runtimeVersion: packageVersion,
    runtimeApiVersion: 'v1',
  });
}

function statusHandler(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['Status']> {
  return async (request) => {
    const { config } = ctx;
    const [handler, network] = await Promise.all([
      resolveRuntimeHandler(config, config.default_runtime),
      // The same readiness RunPodSandbox checks, so the two never disagree.
      ctx.pods.cni.status(),
    ]);
    const runtimeProblem = handler ? handlerProblem(handler) : `default runtime "${config.default_runtime}" is not configured`;
    return {
      status: {
        conditions: [
          runtimeProblem
            ? { type: 'RuntimeReady', status: false, reason: 'RuntimeBinaryMissing', message: runtimeProblem }
            : { type: 'RuntimeReady', status: true },
          network.ready
            ? { type: 'NetworkReady', status: true }
            : { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: network.reason },
        ],
      },
      info: request.verbose ? { config: JSON.stringify(config) } : {},
      runtimeHandlers: await handlerFeatures(ctx),
      features: { supplementalGroupsPolicy: true, userNamespacesHostNetwork: false },
    };
  };
}

/**
 * Each configured handler, and the default one under the empty name (pods
 * without a RuntimeClass), with what its runtime supports. User namespaces
 * are not implemented yet.
 */
async function handlerFeatures(ctx: ServerContext): Promise<Init<RuntimeHandler>[]> {
  const { config } = ctx;
  const featuresOf = async (name: string): Promise<Init<RuntimeHandler>['features']> => {
    const path = (await resolveRuntimeHandler(config, name))?.runtimePath;
    const { recursiveReadOnlyMounts } = path ? await runtimeFeatures(path) : { recursiveReadOnlyMounts: false };
    return { recursiveReadOnlyMounts, userNamespaces: false };
  };
  const names = Object.keys(config.runtimes);
  const handlers = await Promise.all(names.map(async (name) => ({ name, features: await featuresOf(name) })));
  const fallback = handlers.find((h) => h.name === config.default_runtime);
  return fallback ? [{ name: '', features: fallback.features }, ...handlers] : handlers;
}

function runtimeConfig(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['RuntimeConfig']> {
  return async () => ({
    linux: { cgroupDriver: ctx.config.cgroup_manager === 'systemd' ? CgroupDriver.SYSTEMD : CgroupDriver.CGROUPFS },
  });
}
