#!/usr/bin/env node
import { Command } from 'commander';
import { ConfigError } from '../config/load.js';
import { keepYoungGenerationSmall } from '../daemon/heap.js';
import { AlreadyRunningError } from '../daemon/lock.js';
import { packageVersion } from '../package_info.js';
import { runCheck } from './check.js';
import { addConfigOptions, configFromOptions } from './config_flags.js';

const program = new Command('skiff')
  .description('A Kubernetes container runtime serving the CRI v1 over gRPC')
  .version(packageVersion, '--version', 'print the version')
  .showHelpAfterError();

addConfigOptions(program.command('daemon').description('serve the CRI on the configured unix socket')).action(
  async (_opts, command: Command) => {
    keepYoungGenerationSmall();
    const config = await configFromOptions(command);
    const { runDaemon } = await import('../daemon/run.js');
    process.exitCode = await runDaemon(config);
    // Done: a child still being waited for (an exec session's runtime, say) does not keep the daemon up.
    setTimeout(() => process.exit(), 1000).unref();
  },
);

addConfigOptions(program.command('config').description('print the effective configuration as TOML')).action(
  async (_opts, command: Command) => {
    const { renderConfig } = await import('../config/render.js');
    process.stdout.write(renderConfig(await configFromOptions(command)));
  },
);

addConfigOptions(program.command('check').description('check that this host can run skiff')).action(
  async (_opts, command: Command) => {
    process.exitCode = await runCheck(await configFromOptions(command));
  },
);

addConfigOptions(program.command('pull').argument('<image>').description('pull an image through the daemon, with progress')).action(
  async (image: string, _opts, command: Command) => {
    const { pullCommand } = await import('./image_commands.js');
    process.exitCode = await pullCommand((await configFromOptions(command)).listen, image);
  },
);

addConfigOptions(program.command('images').description('list the images the daemon holds')).action(async (_opts, command: Command) => {
  const { imagesCommand } = await import('./image_commands.js');
  process.exitCode = await imagesCommand((await configFromOptions(command)).listen);
});

addConfigOptions(program.command('rmi').argument('<image...>').description('remove images by id, tag or digest')).action(
  async (images: string[], _opts, command: Command) => {
    const { rmiCommand } = await import('./image_commands.js');
    process.exitCode = await rmiCommand((await configFromOptions(command)).listen, images);
  },
);

program
  .command('version')
  .description('print version information')
  .action(() => {
    process.stdout.write(`skiff ${packageVersion}\nCRI API: v1 (k8s.io/cri-api v0.36)\nnode: ${process.version}\n`);
  });

program.parseAsync().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`skiff: config: ${err.message}\n`);
    process.exitCode = 2;
  } else if (err instanceof AlreadyRunningError) {
    process.stderr.write(`skiff: ${err.message}\n`);
    process.exitCode = 3;
  } else {
    process.stderr.write(`skiff: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
});
