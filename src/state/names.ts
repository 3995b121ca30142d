/**
 * Pod and container names are reserved from create until remove, as the
 * kubelet expects: a second create under a held name is refused, naming the holder.
 */
export class NameRegistry {
  private readonly holders = new Map<string, string>();

  /** Reserves `name` for `id`; returns the current holder when someone else has it. */
  reserve(name: string, id: string): string | undefined {
    const holder = this.holders.get(name);
    if (holder !== undefined && holder !== id) return holder;
    this.holders.set(name, id);
    return undefined;
  }

  holder(name: string): string | undefined {
    return this.holders.get(name);
  }

  release(name: string, id: string): void {
    if (this.holders.get(name) === id) this.holders.delete(name);
  }
}
