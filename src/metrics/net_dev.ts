// Interface counters of a network namespace, from the kernel's /proc/<pid>/net/dev.

export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

/**
 * Two header lines, then "  name: rx_bytes rx_packets rx_errs rx_drop rx_fifo
 * rx_frame rx_compressed rx_multicast tx_bytes tx_packets tx_errs ...".
 * Loopback is left out: it is not pod traffic.
 */
export function parseNetDev(text: string): InterfaceCounters[] {
  const interfaces: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === '' || name === 'lo' || fields.length < 16 || fields.some((n) => !Number.isFinite(n))) continue;
    interfaces.push({ name, rxBytes: fields[0]!, rxErrors: fields[2]!, txBytes: fields[8]!, txErrors: fields[10]! });
  }
  return interfaces;
}

/** The kubelet's default pod interface is eth0 (the CNI default); else the first one. */
export function defaultInterface(interfaces: InterfaceCounters[]): InterfaceCounters | undefined {
  return interfaces.find((i) => i.name === 'eth0') ?? interfaces[0];
}
