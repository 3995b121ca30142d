// usage_nano_cores is a rate, so it needs an earlier reading of the same
// cgroup: kept here in memory, per container or pod, as CRI-O and containerd do.

interface Reading {
  /** Unix nanoseconds. */
  at: number;
  usageNs: number;
}

/** Readings closer together than this give a noisy rate; an older baseline is kept instead. */
const minIntervalNs = 1e9;

export class CpuRates {
  /** Per id: the last two readings kept, oldest first. */
  private readonly readings = new Map<string, Reading[]>();

  /**
   * The CPU rate in nanocores (CPU-ns per wall second) up to `now`. With no
   * earlier reading it is the average since `startedAt` (the cgroup began at zero).
   */
  rate(id: string, usageNs: number, now: number, startedAt: number): number {
    const kept = this.readings.get(id) ?? [];
    const newest = kept[kept.length - 1];
    // A reading from just before is too close: measure from the one before it, or from the start.
    const start = { at: startedAt, usageNs: 0 };
    const base = newest && now - newest.at >= minIntervalNs ? newest : kept.length > 1 ? kept[0]! : start;
    if (!newest || now - newest.at >= minIntervalNs) {
      this.readings.set(id, [...kept.slice(-1), { at: now, usageNs }]);
    }
    const elapsed = now - base.at;
    // A counter that went backwards belongs to a new cgroup under the same id.
    if (elapsed <= 0 || usageNs < base.usageNs) return 0;
    return Math.round(((usageNs - base.usageNs) / elapsed) * 1e9);
  }

  /** Drops the readings of ids no longer present. */
  retain(live: ReadonlySet<string>): void {
    for (const id of this.readings.keys()) if (!live.has(id)) this.readings.delete(id);
  }
}
