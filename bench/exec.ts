// ExecSync benchmark: latency of ExecSync `true` through the CRI socket
// against bare `runc exec` of `true` in the same container, same run (the
// floor: what any runtime pays to enter a container). Prints a table.
//
//   node dist/bench/exec.js     (root; runc, conmon, /usr/lib/cni, docker-registry)
//
// Environment: BENCH_RUNS (50) runs of each, interleaved.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable } from '../src/host/executables.js';
import { runCommand } from '../src/process/command.js';
import { containerConfig, podConfig, startRuntimeDaemon } from '../test/helpers/runtime_daemon.js';
import { execProblem } from '../test/exec/fixtures.js';
import { median, printTable, timed } from './report.js';

const runs = Number(process.env.BENCH_RUNS ?? 50);

async function main(): Promise<void> {
  const problem = await execProblem();
  if (problem) throw new Error(`cannot run: ${problem}`);
  const fx = await startRuntimeDaemon({ suite: 'bench-exec', bridge: `skb${process.pid % 10000}`, subnet: '10.231.25.0/24', extraArgs: ['--log-level', 'info'] });
  const daemon = fx.daemon;
  try {
    const pod = podConfig(fx, 'bench-exec');
    const { podSandboxId } = await daemon.client.runtime.RunPodSandbox!({ config: pod });
    const { containerId } = await daemon.client.runtime.CreateContainer!({ podSandboxId, config: containerConfig(fx, 'target', ['sleep', '100000']), sandboxConfig: pod });
    await daemon.client.runtime.StartContainer!({ containerId });

    // The same process spec ExecSync derives: the container's own, running `true`.
    const bundle = join(daemon.dir, 'run', 'containers', containerId);
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: Record<string, unknown> };
    const processFile = join(bundle, 'bench-process.json');
    await writeFile(processFile, JSON.stringify({ ...spec.process, args: ['true'], terminal: false }));
    const runcArgs = ['--root', join(daemon.dir, 'run', 'runtimes', 'runc'), 'exec', '--process', processFile, containerId];
    const runc = await findExecutable('runc');
    if (!runc) throw new Error('runc not found in PATH');
    // Started by posix_spawn, as the daemon starts it: node's own spawn would fork this whole process first.
    const bareExec = async (): Promise<void> => {
      const res = await runCommand(runc, runcArgs, { env: { PATH: process.env.PATH }, timeoutMs: 60_000 });
      if (res.code !== 0) throw new Error(`runc exec true: exit ${res.code}: ${res.stderr}`);
    };

    const execSync: number[] = [];
    const bare: number[] = [];
    // Warm both paths once, then interleave so load drifts hit both alike.
    await daemon.client.runtime.ExecSync!({ containerId, cmd: ['true'], timeout: 0 });
    await bareExec();
    for (let i = 0; i < runs; i++) {
      execSync.push(
        await timed(async () => {
          const reply = await daemon.client.runtime.ExecSync!({ containerId, cmd: ['true'], timeout: 0 });
          if (reply.exitCode !== 0) throw new Error(`ExecSync true exited ${reply.exitCode}`);
        }),
      );
      bare.push(await timed(bareExec));
    }
    await rm(processFile, { force: true });
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId });

    console.log(`ExecSync \`true\` vs bare runc exec, same container, ${runs} runs each, interleaved`);
    printTable(
      [
        { name: 'skiff ExecSync true (CRI round trip)', samples: execSync, unit: 'ms' },
        { name: 'runc exec true (bare, no CRI)', samples: bare, unit: 'ms' },
      ],
      { digits: 2 },
    );
    const overhead = median(execSync) - median(bare);
    console.log(`\nmedian overhead of skiff over bare runc exec: ${overhead.toFixed(2)} ms (${(median(execSync) / median(bare)).toFixed(2)}x)`);
  } finally {
    await fx.cleanup();
  }
}

await main();
