// The daemon's own oom_score_adj: the floor for every score it hands out,
// since lowering a score below one's own needs CAP_SYS_RESOURCE. It is set
// when the daemon starts (by its supervisor), so it is read once.
import { readFile } from 'node:fs/promises';

let own: Promise<number> | undefined;

export function daemonOomScoreAdj(): Promise<number> {
  own ??= readFile('/proc/self/oom_score_adj', 'utf8').then((text) => Number(text.trim()) || 0);
  return own;
}
