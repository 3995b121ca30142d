// Pull benchmark: skiff's streaming pull against download-then-extract
// (skopeo copy to a directory, then GNU tar per layer), and the addon's
// extraction alone against GNU tar on the same layer. Prints a table.
//
//   node dist/bench/pull.js     (needs the rig registry: ../shared/rig/registry.sh start && images.sh)
//
// Environment: BENCH_REGISTRY (127.0.0.1:5000), BENCH_IMAGE (bench/big:1), BENCH_RUNS (3).
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImageServiceName, RuntimeServiceName } from '../src/proto/cri.js';
import { createLayerWriter } from '../src/native/index.js';
import { scratchDir, startDaemon } from '../test/helpers/daemon.js';
import { median, printTable, timed, type Figure } from './report.js';

const run = promisify(execFile);
const registry = process.env.BENCH_REGISTRY ?? '127.0.0.1:5000';
const imageName = `${registry}/${process.env.BENCH_IMAGE ?? 'bench/big:1'}`;
const runs = Number(process.env.BENCH_RUNS ?? 3);

/** skiff pulls, each after removing the image; the daemon's responsiveness probed every 10 ms meanwhile. */
async function benchSkiffPull(): Promise<Figure[]> {
  const scratch = await scratchDir('skiff-bench-');
  await mkdir(join(scratch.dir, 'etc'), { recursive: true });
  const registriesConf = join(scratch.dir, 'etc', 'registries.conf');
  const policy = join(scratch.dir, 'etc', 'policy.json');
  await writeFile(registriesConf, `[[registry]]\nlocation = "${registry}"\ninsecure = true\n`);
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const daemon = await startDaemon(scratch.dir, ['--registries-conf', registriesConf, '--signature-policy', policy, '--log-level', 'info'], { SKIFF_EVENT_LOOP_STATS: '1' });
  const pulls: number[] = [];
  const stalls: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      await daemon.client.image.RemoveImage!({ image: { image: imageName } });
      let pulling = true;
      let worst = 0;
      const probe = (async () => {
        while (pulling) {
          const t = performance.now();
          await daemon.client.daemon.unary(RuntimeServiceName, 'Version', {});
          worst = Math.max(worst, performance.now() - t);
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      pulls.push(await timed(() => daemon.client.daemon.unary(ImageServiceName, 'PullImage', { image: { image: imageName } })));
      pulling = false;
      await probe;
      stalls.push(worst);
    }
  } finally {
    await daemon.stop();
    await scratch.cleanup();
  }
  // The daemon's own event-loop delay histogram over all pulls, logged at shutdown.
  const report = daemon
    .stderr()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { eventLoopDelayMs?: { max: number; p99: number } })
    .find((l) => l.eventLoopDelayMs);
  return [
    { name: 'skiff PullImage', samples: pulls, unit: 'ms' },
    { name: 'skiff Version RPC worst latency during pull', samples: stalls, unit: 'ms' },
    { name: 'skiff event loop delay, max (in daemon)', samples: [report?.eventLoopDelayMs?.max ?? NaN], unit: 'ms' },
    { name: 'skiff event loop delay, p99 (in daemon)', samples: [report?.eventLoopDelayMs?.p99 ?? NaN], unit: 'ms' },
  ];
}

/** The naive pipeline: download everything, then extract every layer with GNU tar. */
async function benchNaive(): Promise<{ figure: Figure; layoutDir: string; layers: { path: string; compression: string }[] }> {
  const samples: number[] = [];
  const keep = await mkdtemp(join(tmpdir(), 'skiff-bench-naive-'));
  let layers: { path: string; compression: string }[] = [];
  for (let i = 0; i < runs; i++) {
    const work = await mkdtemp(join(tmpdir(), 'skiff-bench-naive-run-'));
    const dir = join(work, 'image');
    samples.push(
      await timed(async () => {
        await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${imageName}`, `dir:${dir}`], { maxBuffer: 1 << 24 });
        const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { layers: { digest: string; mediaType: string }[] };
        layers = manifest.layers.map((l) => ({ path: join(dir, l.digest.replace('sha256:', '')), compression: l.mediaType.endsWith('zstd') ? 'zstd' : 'gzip' }));
        for (const [n, layer] of layers.entries()) {
          const target = join(work, `layer-${n}`);
          await mkdir(target);
          await run('tar', ['-x', layer.compression === 'zstd' ? '--zstd' : '-z', '-f', layer.path, '-C', target]);
        }
      }),
    );
    if (i === runs - 1) {
      await run('cp', ['-r', dir, join(keep, 'image')]);
      layers = layers.map((l) => ({ ...l, path: l.path.replace(dir, join(keep, 'image')) }));
    }
    await rm(work, { recursive: true, force: true });
  }
  return { figure: { name: 'skopeo copy + tar -x per layer', samples, unit: 'ms' }, layoutDir: keep, layers };
}

/**
 * Extraction alone, the biggest layer: the addon fed from a file vs GNU tar.
 * Each run starts after sync(1), so neither side pays for writing back the
 * previous run's files, and the order alternates. The addon's own figure
 * includes the syncfs(2) that makes a layer durable before it is committed;
 * tar does no such thing, so the addon is also timed without it.
 */
async function benchExtraction(layer: { path: string; compression: string }): Promise<Figure[]> {
  const samples = { addon: [] as number[], addonNoSync: [] as number[], tar: [] as number[] };
  const compression = layer.compression as 'gzip' | 'zstd';
  const extractWithAddon = (dir: string, sync: boolean) =>
    timed(async () => {
      const writer = createLayerWriter({ dir, compression, sync });
      for await (const chunk of createReadStream(layer.path, { highWaterMark: 1 << 20 })) await writer.write(chunk as Buffer);
      await writer.finish();
    });
  const extractWithTar = (dir: string) => timed(() => run('tar', ['-x', compression === 'zstd' ? '--zstd' : '-z', '-f', layer.path, '-C', dir]));
  for (let i = 0; i < runs; i++) {
    const work = await mkdtemp(join(tmpdir(), 'skiff-bench-x-'));
    const contenders: Array<[number[], (dir: string) => Promise<number>]> = [
      [samples.addon, (dir) => extractWithAddon(dir, true)],
      [samples.addonNoSync, (dir) => extractWithAddon(dir, false)],
      [samples.tar, extractWithTar],
    ];
    if (i % 2 === 1) contenders.reverse();
    for (const [into, extract] of contenders) {
      const dir = await mkdtemp(join(work, 'x-'));
      await run('sync');
      into.push(await extract(dir));
    }
    await rm(work, { recursive: true, force: true });
  }
  return [
    { name: 'extract biggest layer: skiff addon', samples: samples.addon, unit: 'ms' },
    { name: 'extract biggest layer: GNU tar', samples: samples.tar, unit: 'ms' },
    { name: 'extract biggest layer: addon, no syncfs', samples: samples.addonNoSync, unit: 'ms' },
  ];
}

async function main(): Promise<void> {
  console.log(`image ${imageName}, ${runs} runs each, same machine, same run`);
  const skiff = await benchSkiffPull();
  const naive = await benchNaive();
  const sizes = await Promise.all(naive.layers.map(async (l) => (await readFile(l.path)).length));
  const biggest = naive.layers[sizes.indexOf(Math.max(...sizes))]!;
  const extraction = await benchExtraction(biggest);
  await rm(naive.layoutDir, { recursive: true, force: true });
  const figures = [...skiff, naive.figure, ...extraction];
  printTable(figures, { columns: ['median', 'min', 'max'] });
  const ratio = median(skiff[0]!.samples) / median(naive.figure.samples);
  const xRatio = median(extraction[0]!.samples) / median(extraction[1]!.samples);
  console.log(`\npull: skiff / naive = ${ratio.toFixed(2)}x (target <= 0.60x)`);
  console.log(`extraction: addon / GNU tar = ${xRatio.toFixed(2)}x (target <= 1.00x)`);
  console.log(`event loop: max delay in the daemon = ${skiff[2]!.samples[0]!.toFixed(1)} ms (target < 50 ms); worst Version RPC round trip ${Math.max(...skiff[1]!.samples).toFixed(1)} ms`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
