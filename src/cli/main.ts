import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { configToToml, embeddedConfig, loadConfigFile, PACKAGE_DIR, type Config } from '../service/config.js';
import { createLogger } from '../service/log.js';
import { run } from '../service/run.js';
import { playlistCommand } from './playlist.js';
import { devicesCommand } from './devices.js';
import { join } from 'node:path';

/** The jaudiosync command line. Every failure is one clear message and a non-zero exit, never a stack trace. */

const processStartNs = process.hrtime.bigint();

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function loadConfig(path?: string): Config {
  return path ? loadConfigFile(path) : embeddedConfig();
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('jaudiosync')
    .description('Play one playlist in sample-perfect sync on many devices, with no network during playback.')
    .version(version())
    .showHelpAfterError()
    .exitOverride();
  let exitCode = 0;

  program.command('run')
    .description('discipline the clock and play the playlist at the configured instant (the service)')
    .option('-c, --config <path>', 'config file (default: the embedded default: simulated hardware where none is found, the bundled playlist, next whole 10 s)')
    .option('--at <when>', 'start instead at "next-10s", "+SECONDS" or an ISO 8601 instant with offset')
    .addOption(new Option('--output <kind>', 'audio output').choices(['alsa', 'wav']))
    .option('--wav <path>', 'WAV file to write when there is no audio device (or with --output wav)')
    .option('-q, --quiet', 'only warnings and errors')
    .action(async (o: { config?: string; at?: string; output?: 'alsa' | 'wav'; wav?: string; quiet?: boolean }) => {
      const config = loadConfig(o.config);
      const log = createLogger(process.stdout, o.quiet);
      const abort = new AbortController();
      const onSignal = (sig: string) => { log.info(`${sig}: stopping`); abort.abort(); };
      process.once('SIGINT', () => onSignal('SIGINT'));
      process.once('SIGTERM', () => onSignal('SIGTERM'));
      await run({ config, log, at: o.at, output: o.output, wavPath: o.wav, processStartNs, abort: abort.signal });
    });

  const cfg = program.command('config').description('config files');
  cfg.command('check')
    .argument('[file]', 'config file (default: the embedded default)')
    .description('validate a config file and print it resolved, with every default filled in')
    .action((file?: string) => { process.stdout.write(configToToml(loadConfig(file))); });

  cfg.command('example')
    .description('print an example config with every key documented')
    .action(() => { process.stdout.write(readFileSync(join(PACKAGE_DIR, 'examples', 'config.toml'), 'utf8')); });

  program.command('playlist')
    .argument('<playlist>', 'm3u/m3u8 file')
    .option('--json', 'one JSON document')
    .description('list the entries of a playlist: line, path, exists, format, duration, problem')
    .action(async (file: string, o: { json?: boolean }) => { exitCode = await playlistCommand(file, o.json ?? false); });

  program.command('devices')
    .description('list the audio output devices by name')
    .action(() => { exitCode = devicesCommand(); });

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) return err.exitCode ?? 1; // commander printed it already
    process.stderr.write(`jaudiosync: ${err.message}\n`);
    if (process.env.JAUDIOSYNC_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
