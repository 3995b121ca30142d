// Files of an image's root filesystem that every container of it reads the
// same way (its /etc/passwd and /etc/group, for user resolution). A
// container's rootfs at creation is exactly its image's layers, which never
// change under an image id, so what the first container read is kept for
// the next ones: their specs are then built without waiting for their mounts.

export type FileLoad = () => Promise<Buffer | undefined>;

interface Entry {
  data: Promise<Buffer | undefined>;
  bytes: number;
}

export class ImageFileCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  /** At most `maxBytes` kept in all; a file over `maxFileBytes` (at most `maxBytes`) is read each time. */
  constructor(
    private readonly maxBytes = 1024 * 1024,
    private readonly maxFileBytes = Math.min(64 * 1024, maxBytes),
  ) {}

  /** `path` of image `imageId` (read up to `maxBytes`): kept, or loaded by `load` and kept. */
  read(imageId: string, path: string, maxBytes: number, load: FileLoad): Promise<Buffer | undefined> {
    const key = `${imageId}\0${path}\0${maxBytes}`;
    const hit = this.entries.get(key);
    if (hit) {
      // Most recently used last: eviction takes the oldest first.
      this.entries.delete(key);
      this.entries.set(key, hit);
      // A load still in flight is another container's: should it fail (its mount, say), this one reads its own.
      return hit.data.catch(() => load());
    }
    const entry: Entry = { data: load(), bytes: 0 };
    this.entries.set(key, entry);
    entry.data.then(
      (data) => {
        if (this.entries.get(key) !== entry) return;
        const bytes = data?.length ?? 0;
        if (bytes > this.maxFileBytes) {
          this.entries.delete(key);
          return;
        }
        entry.bytes = bytes;
        this.bytes += bytes;
        for (const [oldest] of this.entries) {
          if (this.bytes <= this.maxBytes) break;
          this.drop(oldest);
        }
      },
      // A failed read is not remembered.
      () => {
        if (this.entries.get(key) === entry) this.drop(key);
      },
    );
    return entry.data;
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}
