// Signal names and numbers (Linux x86-64/arm64 numbering, glibc's SIGRTMIN
// of 34) and the container's stop signal.

import { Signal } from '../../proto/cri.js';
import { invalidField, quote } from './errors.js';

const standard: readonly string[] = [
  '', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL', 'SIGUSR1',
  'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT', 'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP',
  'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS',
];
const aliases: Record<string, string> = { SIGIOT: 'SIGABRT', SIGCLD: 'SIGCHLD', SIGPOLL: 'SIGIO' };
const rtMin = 34;
const rtMax = 64;

/** The canonical name of a signal number, as `kill -l` prints it. */
export function signalName(n: number): string | undefined {
  if (n >= 1 && n < standard.length) return standard[n];
  if (n === rtMin) return 'SIGRTMIN';
  if (n === rtMax) return 'SIGRTMAX';
  if (n > rtMin && n <= rtMin + 15) return `SIGRTMIN+${n - rtMin}`;
  if (n > rtMin + 15 && n < rtMax) return `SIGRTMAX-${rtMax - n}`;
  return undefined;
}

/** The number of a signal given as "SIGQUIT", "quit", "3", "SIGRTMIN+2" or "RTMAX-1"; undefined when unknown. */
export function signalNumber(text: string): number | undefined {
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    return signalName(n) ? n : undefined;
  }
  const name = t.startsWith('SIG') ? t : `SIG${t}`;
  const canonical = aliases[name] ?? name;
  const i = standard.indexOf(canonical);
  if (i > 0) return i;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d{1,2}))?$/.exec(canonical);
  if (!rt) return undefined;
  const base = rt[1] === 'MIN' ? rtMin : rtMax;
  const offset = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === '+' ? 1 : -1);
  if ((rt[1] === 'MIN' && offset < 0) || (rt[1] === 'MAX' && offset > 0)) return undefined;
  const n = base + offset;
  return n >= rtMin && n <= rtMax ? n : undefined;
}

/** "SIGQUIT", "QUIT", "3" → "SIGQUIT"; undefined when unknown. */
export function normalizeSignal(text: string): string | undefined {
  const n = signalNumber(text);
  return n === undefined ? undefined : signalName(n);
}

/** The name of a CRI Signal enum value (SIGRTMINPLUS1 → SIGRTMIN+1). */
export function criSignalName(signal: Signal): string | undefined {
  const key = Signal[signal];
  if (key === undefined || signal === Signal.RUNTIME_DEFAULT) return undefined;
  const spelled = key.replace(/^SIGRTMINPLUS(\d+)$/, 'SIGRTMIN+$1').replace(/^SIGRTMAXMINUS(\d+)$/, 'SIGRTMAX-$1');
  return normalizeSignal(spelled);
}

/** CRI stop_signal, else the image's StopSignal, else SIGTERM. */
export function stopSignal(cri: Signal, imageStopSignal: string): string {
  if (cri !== Signal.RUNTIME_DEFAULT) {
    const name = criSignalName(cri);
    if (!name) throw invalidField('config.stop_signal', `unknown signal ${String(cri)}`);
    return name;
  }
  if (imageStopSignal.trim() !== '') {
    const name = normalizeSignal(imageStopSignal);
    if (!name) throw invalidField('image config StopSignal', `unknown signal ${quote(imageStopSignal)}`);
    return name;
  }
  return 'SIGTERM';
}
