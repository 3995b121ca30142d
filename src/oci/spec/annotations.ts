// Annotations skiff writes into config.json. They use containerd's
// `io.kubernetes.cri.*` keys, which node tools (NRI plugins, crictl
// inspectors, OCI hooks, the runtime's own logs) already understand.

export const annotationKeys = {
  /** "container" or "sandbox". */
  containerType: 'io.kubernetes.cri.container-type',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  sandboxLogDirectory: 'io.kubernetes.cri.sandbox-log-directory',
  containerName: 'io.kubernetes.cri.container-name',
  imageName: 'io.kubernetes.cri.image-name',
} as const;

export const containerTypes = { container: 'container', sandbox: 'sandbox' } as const;

/** CRI annotations first; skiff's own keys win over any the request carries. */
export function mergeAnnotations(fromRequest: Record<string, string> | undefined, own: Record<string, string>): Record<string, string> {
  return { ...(fromRequest ?? {}), ...own };
}
