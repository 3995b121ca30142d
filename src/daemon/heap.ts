import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's young generation at its initial size (1 MiB per semi-space)
 * instead of letting it grow to 16 MiB per semi-space under load. The
 * daemon's garbage is small and short-lived (RPC messages, Buffers of pulled
 * layers that are copied into the addon), so scavenges stay cheap, while
 * the grown young generation would stay resident: about 30 MiB of RSS.
 * --max-semi-space-size only counts when the heap is set up (at node's
 * start), but the growth factor is read each time new space grows, so it
 * takes effect from here as long as this runs before the daemon does work.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
