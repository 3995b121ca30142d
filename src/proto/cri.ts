// The CRI message types, as handlers receive and build them.
export * from './generated/cri.js';

/**
 * What a handler may return for a message: every field optional, nested
 * messages too. Missing fields are encoded as their proto3 defaults.
 */
export type Init<T> = T extends readonly (infer U)[]
  ? Init<U>[]
  : T extends Uint8Array
    ? T
    : T extends object
      ? { [K in keyof T]?: Init<T[K]> | null }
      : T;
