import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import {
  BOOT_CONFIG_PATH,
  configToToml,
  DEFAULT_CONFIG_PATH,
  embeddedConfig,
  loadConfigFile,
  PACKAGE_DIR,
  parseStartSpec,
  resolveStart,
  systemConfigPath,
  type Config,
} from '../service/config.js';
import { configCheckCommand } from './config-check.js';
import { systemTimeZone } from '../service/schedule.js';
import { formatInstant } from '../service/status.js';
import { createLogger } from '../service/log.js';
import { checkedPlaylist, run } from '../service/run.js';
import { serve, takeLock, type ServeOptions } from '../service/daemon.js';
import { rideIdOf, startFleet } from '../fleet/index.js';
import { startTimingChain } from '../service/hardware.js';
import { chooseHardware } from './hardware-choice.js';
import { statusCommand } from './status.js';
import { simulateCommand, type SimulateOptions } from './simulate.js';
import { calibrateApply, calibrateRecord, calibrateReport, calibrateVerify } from './calibrate.js';
import { playlistCommand } from './playlist.js';
import { devicesCommand } from './devices.js';
import { gpsMonitor, ppsMonitor, rtcCommand } from './hardware-cli.js';
import { doctor } from './doctor.js';
import { clockMonitor } from './clock-monitor.js';
import { clockSourcesCommand } from './clock-sources.js';
import { timelineBuild, timelineShow } from './timeline.js';
import { configIntOption, configNumberOption, intOption, pathOption, startOption } from './options.js';
import { stopWhenOutputCloses } from './output.js';
import { readPlaylist } from '../player/m3u.js';
import { registerFleet } from './fleet.js';
import { join, resolve } from 'node:path';

/** The service's fleet control: the ride a command names is its start instant (src/fleet/command.ts). */
const fleetStarter: NonNullable<ServeOptions['startFleet']> = ({ rideStartUtcNs, ...o }) =>
  startFleet({
    ...o,
    rideId: () => {
      const u = rideStartUtcNs();
      return u === undefined ? undefined : rideIdOf(u);
    },
  });

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

/**
 * Without --config, the service (and `config check`, `doctor`) use the system's config file:
 * /boot/firmware/jaudiosync.toml before /etc/jaudiosync/config.toml; the embedded default when
 * neither exists. JAUDIOSYNC_ROOT prefixes both paths (tests, images). `note` is told which file.
 */
function loadSystemConfig(path: string | undefined, note: (msg: string) => void): Config {
  if (path) return loadConfigFile(path);
  const sys = systemConfigPath(process.env.JAUDIOSYNC_ROOT ?? '');
  if (!sys) {
    note(`no ${BOOT_CONFIG_PATH} or ${DEFAULT_CONFIG_PATH}: using the embedded default config`);
    return embeddedConfig();
  }
  note(`config: ${sys.path}${sys.shadows ? ` (on the boot partition: it takes precedence over ${sys.shadows})` : ''}`);
  return loadConfigFile(sys.path);
}

export async function main(argv: string[]): Promise<number> {
  // `jaudiosync gps monitor | head`: the reader going away stops the command as SIGTERM would
  // (temp folders removed, socat ended), never an EPIPE stack trace.
  stopWhenOutputCloses();
  const program = new Command()
    .name('jaudiosync')
    .description('Play one playlist in sample-perfect sync on many devices, with no network during playback.')
    .version(version())
    .showHelpAfterError()
    .exitOverride();
  let exitCode = 0;

  program
    .command('run')
    .description('discipline the clock and play the playlist at the configured instant (the service)')
    .option(
      '-c, --config <path>',
      'config file (default: the embedded default: simulated hardware where none is found, the bundled playlist, next whole 10 s; with --service: /boot/firmware/jaudiosync.toml, else /etc/jaudiosync/config.toml)',
    )
    .option(
      '--at <when>',
      'start instead at "next-10s", "+SECONDS", an ISO 8601 instant with offset, "daily HH:MM" or "cron MIN HOUR DOM MON DOW"',
    )
    .addOption(new Option('--output <kind>', 'audio output').choices(['alsa', 'wav']))
    .option('--wav <path>', 'WAV file to write when there is no audio device (or with --output wav)')
    .option('-q, --quiet', 'only warnings and errors')
    .option('--from-track <n>', 'start the timeline at track n')
    .option('--resume', 'start at the track that was playing when the service last stopped')
    .option('--service', 'stay up when nothing more is scheduled, retry failed starts (the systemd unit uses this)')
    .action(
      async (o: {
        config?: string;
        at?: string;
        output?: 'alsa' | 'wav';
        wav?: string;
        quiet?: boolean;
        fromTrack?: string;
        resume?: boolean;
        service?: boolean;
      }) => {
        const log = createLogger(process.stdout, o.quiet);
        const fromTrack =
          o.fromTrack !== undefined
            ? intOption('--from-track', o.fromTrack, 1, undefined, 'a track number')
            : undefined;
        if (fromTrack !== undefined && o.resume) throw new Error('--from-track and --resume: choose one');
        const at = o.at !== undefined ? o.at.trim() : undefined;
        if (at !== undefined) startOption('--at', at);
        const load = o.service ? () => loadSystemConfig(o.config, (m) => log.info(m)) : () => loadConfig(o.config);
        // A plain run says a playlist it cannot play now, not after the clock locks; the service
        // waits for a fix instead (retried, reloaded).
        if (!o.service) await checkedPlaylist(load(), fromTrack);
        await serve({
          loadConfig: load,
          hardware: (c) => chooseHardware(c),
          startFleet: fleetStarter,
          log,
          processStartNs,
          service: Boolean(o.service),
          resume: Boolean(o.resume),
          fromTrack,
          at,
          output: o.output,
          wavPath: o.wav !== undefined ? pathOption(o.wav) : undefined,
          version: version(),
        });
      },
    );

  for (const [name, what, extra] of [
    [
      'install',
      'install as a boot service (root): user, /opt/jaudiosync, config, unit; checks config.txt',
      ['--edit-boot-config', 'also add the missing config.txt lines (backed up first)'],
    ],
    [
      'uninstall',
      'remove the boot service (root); config and state are kept unless --purge',
      ['--purge', 'also remove the config, the state and the user'],
    ],
  ] as const) {
    program
      .command(name)
      .description(what)
      .option(extra[0], extra[1])
      .option('--root <dir>', 'install into this folder instead of / (images, tests)')
      .action(async (o: { editBootConfig?: boolean; purge?: boolean; root?: string }) => {
        const args = [
          join(PACKAGE_DIR, 'systemd', 'install.sh'),
          ...(name === 'uninstall' ? ['--uninstall'] : []),
          ...(o.editBootConfig ? ['--edit-boot-config'] : []),
          ...(o.purge ? ['--purge'] : []),
          ...(o.root ? ['--root', o.root] : []),
        ];
        exitCode = await new Promise<number>((r) =>
          spawn('bash', args, { stdio: 'inherit' }).on('close', (c) => r(c ?? 1)),
        );
      });
  }

  const cal = program
    .command('calibrate')
    .description('drift experiments: record clocks against a reference, analyse, trim the DS3231');
  cal
    .command('record')
    .description('record the system clock and/or the RTC against a reference (appends: run it again to continue)')
    .addOption(new Option('--reference <ref>', 'what to measure against').choices(['gps', 'ntp', 'rtc']).default('gps'))
    .addOption(new Option('--subject <s>', 'what to measure').choices(['system', 'rtc', 'both']).default('both'))
    .option('--duration <d>', 'how long in all, e.g. 6h, 30m, 2d', '6h')
    .option('--out <file>', 'the recording (default: in the state directory)')
    .option('-c, --config <path>', 'config file (devices, NTP servers, hardware mode)')
    .action(async (o: { reference: string; subject: string; duration: string; out?: string; config?: string }) => {
      exitCode = await calibrateRecord({
        config: loadConfig(o.config),
        reference: o.reference,
        subject: o.subject,
        duration: o.duration,
        out: o.out,
        log: createLogger(process.stdout),
      });
    });
  cal
    .command('report')
    .argument(
      '<files...>',
      'recordings or drift logs (rotated FILE.1, FILE.2 join FILE; other files are other devices)',
    )
    .description('rate, uncertainty, temperature dependence, Allan deviation, holdover; every pair of devices')
    .option('--svg <dir>', 'write plots and an index.html there')
    .option('--json', 'machine-readable')
    .addOption(
      new Option('--reference <ref>', 'which source the system clock is measured against').choices([
        'gps',
        'ntp',
        'rtc',
      ]),
    )
    .action(async (files: string[], o: { svg?: string; json?: boolean; reference?: string }) => {
      exitCode = await calibrateReport(files, o);
    });
  cal
    .command('apply')
    .argument('[files...]', 'the recording (default: clock.drift_log)')
    .description('trim the DS3231 aging offset by the measured rate, save the old value, write the calibration file')
    .option('--dry-run', 'say what would change, change nothing')
    .option('--simulate', 'on a simulated DS3231')
    .option(
      '--assume-real',
      'trust a recording without a header record (an older drift log) to come from real GPS and DS3231',
    )
    .option('-c, --config <path>', 'config file (rtc.bus, rtc.address, rtc.calibration)')
    .action(
      async (files: string[], o: { dryRun?: boolean; simulate?: boolean; assumeReal?: boolean; config?: string }) => {
        exitCode = await calibrateApply(files, {
          config: loadConfig(o.config),
          dryRun: Boolean(o.dryRun),
          simulate: Boolean(o.simulate),
          assumeReal: Boolean(o.assumeReal),
          log: createLogger(process.stdout),
        });
      },
    );
  cal
    .command('verify')
    .argument('[files...]', 'a recording made after apply (default: clock.drift_log)')
    .description('how much better the RTC runs than before the last apply')
    .option('-c, --config <path>', 'config file')
    .action(async (files: string[], o: { config?: string }) => {
      exitCode = await calibrateVerify(files, { config: loadConfig(o.config) });
    });

  program
    .command('simulate')
    .description('whole devices in one simulated world (virtual time)')
    .command('ride')
    .description('the ride simulator: N devices with their clocks, GPS, RTC and DAC twins; the sync error between them')
    .option('--devices <n>', 'devices', '8')
    .option('--hours <h>', 'ride length', '4')
    .addOption(new Option('--gps <which>', 'devices with a GPS').choices(['all', 'some', 'none']).default('all'))
    .addOption(new Option('--pps <kind>', 'PPS path').choices(['kernel', 'gpio']).default('kernel'))
    .addOption(
      new Option('--calibrated <yn>', 'RTCs calibrated (calibrate apply) or not').choices(['yes', 'no']).default('yes'),
    )
    .option('--events <e>', '"default", "none" or a JSON file of events', 'default')
    .option('--seed <s>', 'random seed (the same seed gives the same ride)', '1')
    .option('--json', 'every figure, machine-readable')
    .option('--svg <file>', "plot each device's played error and the spread over the ride, outages and events shaded")
    .option('--html <file>', 'a report: the plot, the phases and the per-device table (readable on a phone)')
    .action(async (o: SimulateOptions) => {
      exitCode = await simulateCommand(o);
    });

  program
    .command('status')
    .description("the running service's clock, schedule, playback and health (from its status socket)")
    .option('--json', 'machine-readable')
    .option('-c, --config <path>', "the service's config (for service.runtime_dir)")
    .option('--socket <path>', 'the status socket (default: found in the usual runtime folders)')
    .action(async (o: { json?: boolean; config?: string; socket?: string }) => {
      let config: Config | undefined;
      try {
        config = o.config ? loadConfigFile(o.config) : undefined;
      } catch (e) {
        // The file may be mid-edit: the service still runs on the config it loaded.
        process.stderr.write(
          `note: ${(e as Error).message.split('\n')[0]}; looking for the socket in the usual places\n`,
        );
      }
      exitCode = await statusCommand({ json: Boolean(o.json), socket: o.socket, config });
    });

  program
    .command('play')
    .argument('<playlist>', 'm3u/m3u8 file')
    .description('one-off playback of a playlist: the whole service path, no config file needed')
    .option(
      '--at <when>',
      'start at "+SECONDS" (after the clock is ready), "next-10s" or an ISO 8601 instant with offset',
      '+3',
    )
    .option('--device <name>', 'ALSA output as `jaudiosync devices` lists it')
    .addOption(
      new Option('--clock <source>', 'time source (default: whatever is found)').choices([
        'system',
        'gps',
        'rtc',
        'ntp',
      ]),
    )
    .option('--from-track <n>', 'start the timeline at track n')
    .option('--trim-ms <x>', 'latency trim: + plays later')
    .addOption(new Option('--output <kind>', 'audio output').choices(['alsa', 'wav']))
    .option('--wav <path>', 'WAV file to write (with --output wav, or when there is no device)')
    .option('-c, --config <path>', 'config file for everything else')
    .action(
      async (
        file: string,
        o: {
          at: string;
          device?: string;
          clock?: string;
          fromTrack?: string;
          trimMs?: string;
          output?: 'alsa' | 'wav';
          wav?: string;
          config?: string;
        },
      ) => {
        const base = loadConfig(o.config);
        const at = o.at.trim();
        startOption('--at', at);
        const fromTrack =
          o.fromTrack !== undefined
            ? intOption('--from-track', o.fromTrack, 1, undefined, 'a track number')
            : undefined;
        const trimMs =
          o.trimMs !== undefined
            ? configNumberOption('--trim-ms', o.trimMs, 'audio', 'latency_trim_ms', 'a number of milliseconds')
            : base.audio.latency_trim_ms;
        const config: Config = {
          ...base,
          playlist: { ...base.playlist, path: resolve(file), manifest: '' },
          audio: { ...base.audio, device: o.device ?? base.audio.device, latency_trim_ms: trimMs },
          gps: { ...base.gps, enabled: o.clock === undefined || o.clock === 'gps' ? base.gps.enabled : false },
          rtc: { ...base.rtc, enabled: o.clock === undefined || o.clock === 'rtc' ? base.rtc.enabled : false },
          // --clock system asks for the unsynchronized system clock: play on it (status says so).
          clock: { ...base.clock, when_unsure: o.clock === 'system' ? 'start' : base.clock.when_unsure },
        };
        if (o.clock === 'ntp' && config.ntp.servers.length === 0)
          throw new Error('--clock ntp needs ntp.servers in the config (--config FILE)');
        // an audio file, an empty or binary file: said now, before any hardware starts
        await readPlaylist(config.playlist.path);
        const log = createLogger(process.stdout);
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        process.once('SIGTERM', () => abort.abort());
        const lock = await takeLock(config);
        try {
          const hardware = chooseHardware(config);
          if (config.gps.enabled || config.rtc.enabled) log.info(`timing hardware: ${hardware.why}`);
          const chain = await startTimingChain(config, log, { hardware });
          log.info(`timing: ${chain.describe}`);
          try {
            await run({
              config,
              log,
              chain,
              at,
              output: {
                kind: o.output,
                wavPath: o.wav !== undefined ? pathOption(o.wav) : undefined,
                named: o.device !== undefined || o.output === 'alsa',
              },
              processStartNs,
              abort: abort.signal,
              fromTrack,
            });
          } finally {
            await chain.stop();
          }
        } finally {
          await lock.release();
        }
      },
    );

  const cfg = program.command('config').description('config files');
  cfg
    .command('check')
    .argument(
      '[file]',
      'config file (default: the one the service uses: /boot/firmware/jaudiosync.toml, else /etc/jaudiosync/config.toml, else the embedded default)',
    )
    .description(
      'validate a config, print it with every default filled in and the next start; exit 1 when it cannot work here (playlist, ffmpeg, audio device, state folder, stop, NTP servers)',
    )
    .option('--no-machine', 'check the file only, not this machine (playlist, ffmpeg, audio device, state folder)')
    .action(async (file: string | undefined, o: { machine: boolean }) => {
      const c = loadSystemConfig(file, (m) => process.stdout.write(`# ${m}\n`));
      process.stdout.write(configToToml(c));
      // What the schedule means now, on this machine's clock: every device computes the same.
      const spec = parseStartSpec(c.schedule.start)!;
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const next = resolveStart(spec, nowNs, { timeZone: c.schedule.timezone });
      const zone =
        c.schedule.timezone || `${systemTimeZone()} (the system's: set schedule.timezone so that every device agrees)`;
      const when = spec.kind === 'daily' || spec.kind === 'cron' ? `; time zone ${zone}` : '';
      // Beside UTC, the wall clock of the schedule's zone (the system's when unset), as status shows it.
      const local = formatInstant(Number(next / 1_000_000n), c.schedule.timezone || systemTimeZone());
      const wall = local.endsWith(' UTC') ? '' : `; local time ${local.replace(/ \([^)]* UTC\)$/, '')}`;
      process.stdout.write(
        `# next start: ${new Date(Number(next / 1_000_000n)).toISOString()}${next < nowNs ? ' (in the past: a device started now joins late, or the playlist is over)' : ''}${when}${wall}\n`,
      );
      exitCode = await configCheckCommand(c, { utcNowNs: nowNs, machine: o.machine });
    });

  cfg
    .command('example')
    .description('print an example config with every key documented')
    .action(() => {
      process.stdout.write(readFileSync(join(PACKAGE_DIR, 'examples', 'config.toml'), 'utf8'));
    });

  program
    .command('playlist')
    .argument('<playlist>', 'm3u/m3u8 file')
    .option('--json', 'one JSON document')
    .description('list the entries of a playlist: line, path, exists, format, duration, problem')
    .action(async (file: string, o: { json?: boolean }) => {
      exitCode = await playlistCommand(file, o.json ?? false);
    });

  const tl = program.command('timeline').description('the timeline manifest every device follows');
  tl.command('build')
    .argument('<playlist>', 'm3u/m3u8 file')
    .option('--out <file>', 'manifest file (default: PLAYLIST.manifest.json, which run picks up)')
    .option(
      '--skip-failed',
      'when entries cannot be decoded, write the manifest anyway with them left out on every device',
    )
    .option('-c, --config <path>', 'config file (output rate, ffmpeg)')
    .description(
      'decode every entry, write file hashes and frame counts (only when all decode): copy it with the playlist to every device',
    )
    .action(async (file: string, o: { out?: string; config?: string; skipFailed?: boolean }) => {
      const c = loadConfig(o.config);
      exitCode = await timelineBuild(file, {
        out: o.out,
        rate: c.audio.sample_rate,
        channels: c.audio.channels,
        ffmpeg: c.audio.ffmpeg || undefined,
        skipFailed: Boolean(o.skipFailed),
      });
    });
  tl.command('show')
    .argument('<playlist>', 'm3u/m3u8 file')
    .option('--manifest <file>', 'manifest file (default: PLAYLIST.manifest.json)')
    .option('--at <iso>', 'instead: what plays at this instant (with --start)')
    .option('--start <iso>', 'the start instant of the timeline, for --at')
    .option('--json', 'one JSON document')
    .option('-c, --config <path>', 'config file (playlist.gap_ms and playlist.repeat)')
    .description(
      "each track's slot on the timeline (gaps and repeats included), and whether this device has the right file for it",
    )
    .action(
      async (file: string, o: { manifest?: string; json?: boolean; at?: string; start?: string; config?: string }) => {
        const c = loadConfig(o.config);
        exitCode = await timelineShow(file, { ...o, gapMs: c.playlist.gap_ms, repeat: c.playlist.repeat });
      },
    );

  program
    .command('devices')
    .description('list the audio output devices by name')
    .action(async () => {
      exitCode = await devicesCommand();
    });

  program
    .command('rtc')
    .argument('<action>', 'info | read | set | aging')
    .argument('[value]', 'for aging: the new offset, -128..127 (≈0.1 ppm per step, positive = slower)')
    .description('the DS3231: show it, read or set its time (on the second), read or trim its aging offset')
    .option('--from-gps', 'set: from the GPS+PPS timescale (waits for lock)')
    .option('--from-system', 'set: from the system clock')
    .option('--bus <n>', 'I2C bus', '1')
    .option('--address <hex>', 'I2C address', '0x68')
    .option('--simulate', 'use the DS3231 emulator (a fresh chip each time) instead of the bus')
    .option('-c, --config <path>', 'config file (for --from-gps)')
    .action(
      async (
        action: string,
        value: string | undefined,
        o: {
          fromGps?: boolean;
          fromSystem?: boolean;
          bus: string;
          address: string;
          simulate?: boolean;
          config?: string;
        },
      ) => {
        const bus = configIntOption('--bus', o.bus, 'rtc', 'bus', 'an I2C bus number');
        const address = configIntOption('--address', o.address, 'rtc', 'address', 'an I2C address such as 0x68');
        exitCode = await rtcCommand(
          action,
          { bus, address, simulate: o.simulate ?? false },
          { ...o, value, config: loadConfig(o.config) },
        );
      },
    );

  const gps = program.command('gps').description('the GPS receiver');
  gps
    .command('monitor')
    .description('one line per time fix: UTC, valid or why not, talker, sentence, satellites')
    .option('--port <path>', 'serial port (default: gps.port of the config)')
    .option('--baud <n>', 'baud rate (default: gps.baud)')
    .option('--replay <file>', 'read a capture instead (comments and binary skipped)')
    .option('--floor <date>', 'week-rollover floor (default: the capture\'s "# Date:", live: the build date)')
    .option('--simulate', 'monitor the simulated GPS')
    .option('--seconds <n>', 'stop after n seconds (default: until Ctrl-C)')
    .option('--json', 'one JSON object per line')
    .option('-c, --config <path>', 'config file')
    .action(
      async (o: {
        port?: string;
        baud?: string;
        replay?: string;
        floor?: string;
        json?: boolean;
        simulate?: boolean;
        config?: string;
        seconds?: string;
      }) => {
        exitCode = await gpsMonitor({ ...o, config: loadConfig(o.config) });
      },
    );

  program
    .command('pps')
    .description('the PPS pulse')
    .command('monitor')
    .description('edges, intervals, missed pulses')
    .option('--device <ppsN>', 'kernel PPS device', 'pps0')
    .option('--path <file>', 'a kernel PPS assert file to read instead (an emulator may stand in for /sys/class/pps)')
    .option('--gpio <n>', 'a GPIO pin (BCM number) through onoff instead of the kernel device')
    .option('--simulate', 'monitor the simulated PPS')
    .option('--seconds <n>', 'stop after n seconds (default: until Ctrl-C)')
    .option('--json', 'one JSON object per line')
    .action(
      async (o: {
        device?: string;
        path?: string;
        gpio?: string;
        simulate?: boolean;
        json?: boolean;
        seconds?: string;
      }) => {
        exitCode = await ppsMonitor(o);
      },
    );

  const clk = program.command('clock').description('the disciplined clock');
  clk
    .command('sources')
    .description(
      'every time source of the running service as `chronyc sources` shows them: state, reach, last sample, frequency',
    )
    .option('--json', 'machine-readable')
    .option('-v, --verbose', "a legend, and each source's window, jitter and error bound")
    .option('-c, --config <path>', "the service's config (for service.runtime_dir)")
    .option('--socket <path>', 'the status socket (default: found in the usual runtime folders)')
    .action(async (o: { json?: boolean; verbose?: boolean; config?: string; socket?: string }) => {
      exitCode = await clockSourcesCommand({
        json: o.json,
        verbose: o.verbose,
        socket: o.socket,
        config: o.config ? loadConfigFile(o.config) : undefined,
      });
    });
  clk
    .command('monitor')
    .description(
      'run the clock layer alone and print state, source, system clock offset, bound, frequency once a second',
    )
    .option('-c, --config <path>', 'config file (default: the embedded default)')
    .option('--gps-port <path>', 'GPS serial port')
    .option('--baud <n>', 'GPS baud rate')
    .option('--pps-path <file>', 'a kernel PPS assert file to read (an emulator may stand in for /sys/class/pps)')
    .option('--rtc-bus <n>', 'I2C bus of the DS3231')
    .option('--ntp <host...>', 'NTP servers (host or host:port), the fallback')
    .option('--duration <s>', 'stop after s seconds (default: until Ctrl-C)')
    .option('--json', 'one JSON object per line')
    .action(
      async (o: {
        config?: string;
        gpsPort?: string;
        baud?: string;
        ppsPath?: string;
        rtcBus?: string;
        ntp?: string[];
        duration?: string;
        json?: boolean;
      }) => {
        exitCode = await clockMonitor({ ...o, config: loadConfig(o.config) });
      },
    );

  registerFleet(program, (code) => {
    exitCode = code;
  });

  program
    .command('doctor')
    .description('check the wiring and the system, with a fix for each problem')
    .option('--json', 'one JSON document')
    .option('-c, --config <path>', 'config file (default: as `config check`)')
    .action(async (o: { json?: boolean; config?: string }) => {
      const notes: string[] = [];
      exitCode = await doctor(
        loadSystemConfig(o.config, (m) => notes.push(m.replace(/^config: /, ''))),
        { ...o, configNote: notes[0] },
      );
    });

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
