// Version, Status, RuntimeConfig and UpdateRuntimeConfig: what the kubelet asks before anything else.
import { isIP } from 'node:net';
import { runtimeFeatures } from '../oci/runtime_features.js';
import { handlerProblem, resolveRuntimeHandler, type ResolvedRuntimeHandler } from '../oci/runtime_handlers.js';
import { packageVersion } from '../package_info.js';
import { CgroupDriver, type Init, type RuntimeHandler, type RuntimeServiceMethods } from '../proto/cri.js';
import { invalidArgument, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

/** The CRI's own version string the kubelet expects in VersionResponse.version. */
const kubeletApiVersion = '0.1.0';

export function runtimeInfoHandlers(ctx: ServerContext): RuntimeHandlers {
  // The pod CIDR the kubelet last sent: shown by Status, used by nothing (the CNI config files decide addresses, as with CRI-O).
  const network = { podCidr: '' };
  return { Version: version(), Status: statusHandler(ctx, network), RuntimeConfig: runtimeConfig(ctx), UpdateRuntimeConfig: updateRuntimeConfig(ctx, network) };
}

function version(): UnaryHandler<RuntimeServiceMethods['Version']> {
  return async () => ({
    version: kubeletApiVersion,
    runtimeName: 'skiff',
    runtimeVersion: packageVersion,
    runtimeApiVersion: 'v1',
  });
}

function statusHandler(ctx: ServerContext, network: { podCidr: string }): UnaryHandler<RuntimeServiceMethods['Status']> {
  return async (request) => {
    const { config } = ctx;
    const [handlers, cni] = await Promise.all([
      Promise.all(Object.keys(config.runtimes).map((name) => resolveRuntimeHandler(config, name))),
      // The same readiness RunPodSandbox checks, so the two never disagree.
      ctx.pods.cni.status(),
    ]);
    const handler = handlers.find((h) => h?.name === config.default_runtime);
    const runtimeProblem = handler ? handlerProblem(handler) : `default runtime "${config.default_runtime}" is not configured`;
    return {
      status: {
        conditions: [
          runtimeProblem
            ? { type: 'RuntimeReady', status: false, reason: 'RuntimeBinaryMissing', message: runtimeProblem }
            : { type: 'RuntimeReady', status: true },
          cni.ready
            ? { type: 'NetworkReady', status: true }
            : { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: cni.reason },
        ],
      },
      info: request.verbose ? { config: JSON.stringify(config), ...(network.podCidr ? { podCIDR: network.podCidr } : {}) } : {},
      runtimeHandlers: await handlerFeatures(handlers.filter((h): h is ResolvedRuntimeHandler => h !== undefined), config.default_runtime),
      features: { supplementalGroupsPolicy: true, userNamespacesHostNetwork: false },
    };
  };
}

/**
 * Each configured handler, and the default one under the empty name (pods
 * without a RuntimeClass), with what its runtime supports. User namespaces
 * are not implemented yet.
 */
async function handlerFeatures(handlers: ResolvedRuntimeHandler[], defaultName: string): Promise<Init<RuntimeHandler>[]> {
  const listed = await Promise.all(
    handlers.map(async ({ name, runtimePath }) => {
      const { recursiveReadOnlyMounts } = runtimePath ? await runtimeFeatures(runtimePath) : { recursiveReadOnlyMounts: false };
      return { name, features: { recursiveReadOnlyMounts, userNamespaces: false } };
    }),
  );
  const fallback = listed.find((h) => h.name === defaultName);
  return fallback ? [{ name: '', features: fallback.features }, ...listed] : listed;
}

/** The kubelet sends the node's pod CIDR (comma-separated when dual-stack) once it is assigned. */
function updateRuntimeConfig(ctx: ServerContext, network: { podCidr: string }): UnaryHandler<RuntimeServiceMethods['UpdateRuntimeConfig']> {
  return async (request) => {
    const podCidr = request.runtimeConfig?.networkConfig?.podCidr ?? '';
    if (podCidr === '') return {};
    for (const cidr of podCidr.split(',')) {
      if (!isCidr(cidr.trim())) throw invalidArgument(`runtime_config.network_config.pod_cidr: ${JSON.stringify(cidr)} is not an IPv4 or IPv6 CIDR`);
    }
    if (podCidr !== network.podCidr) ctx.log.info({ podCidr }, 'pod CIDR from the kubelet');
    network.podCidr = podCidr;
    return {};
  };
}

function isCidr(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/');
  const family = isIP(address ?? '');
  if (rest.length > 0 || family === 0 || prefix === undefined || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

function runtimeConfig(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['RuntimeConfig']> {
  return async () => ({
    linux: { cgroupDriver: ctx.config.cgroup_manager === 'systemd' ? CgroupDriver.SYSTEMD : CgroupDriver.CGROUPFS },
  });
}
