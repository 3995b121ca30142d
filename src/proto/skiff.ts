// skiff's own messages (pull progress), as handlers receive and build them.
export * from './generated/skiff.js';
