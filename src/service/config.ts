import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { defaultCalibrationPath } from '../time/rtc-calibration.js';
import {
  isTimeZone,
  nextOccurrence,
  parseCron,
  parseDaily,
  previousOccurrence,
  systemTimeZone,
  type Occurrences,
} from './schedule.js';

/**
 * The one config file (TOML), validated at load: an unknown key, a wrong type or an impossible
 * value is rejected naming the file, the key, the value and what is expected. Relative paths are
 * relative to the config file's folder (the embedded default's to the package).
 */

export const PACKAGE_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  ...(import.meta.url.includes('/dist/') ? ['..'] : []),
);
export const DEFAULT_CONFIG_PATH = '/etc/jaudiosync/config.toml';
/** On the SD card's FAT boot partition, editable on any laptop after flashing: wins over DEFAULT_CONFIG_PATH. */
export const BOOT_CONFIG_PATH = '/boot/firmware/jaudiosync.toml';
export const EMBEDDED_CONFIG_NAME = '(embedded default config)';

const START_SPEC_EXPECTED =
  'expected an ISO 8601 instant with offset (e.g. "2026-06-27T18:55:00+02:00"), "daily HH:MM", "cron MIN HOUR DOM MON DOW", "next-10s" or "+SECONDS"';
// A cron expression that parses but never happens (31 February) says so, not the generic words.
const StartSpec = z.string().superRefine((s, ctx) => {
  if (parseStartSpec(s) !== undefined) return;
  const cron = parseCron(s, 'UTC');
  const why = isoCalendarError(s) ?? (cron && 'error' in cron ? cron.error : START_SPEC_EXPECTED);
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: why });
});

/** Ids that go into MQTT topics and key names: no "/", "+", "#", spaces. */
const FLEET_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const fleetId = (what: string) =>
  z.string().regex(FLEET_ID, {
    message: `expected a ${what} of 1-64 letters, digits, "_", "." or "-" (it goes into MQTT topics)`,
  });

/** Fleet control over MQTT (issue 15, src/fleet): off unless enabled; playback never needs it. */
const FleetSection = z
  .object({
    enabled: z.boolean().default(false),
    /** The fleet's name: topics are jas/v1/<id>/..., and a command for another fleet is refused. */
    id: z
      .string()
      .default('')
      .refine((s) => s === '' || FLEET_ID.test(s), { message: 'expected "" or 1-64 letters, digits, "_", "." or "-"' }),
    /** This device's id in topics and command targets; "" = the hostname. */
    device: z
      .string()
      .default('')
      .refine((s) => s === '' || FLEET_ID.test(s), {
        message: 'expected "" (the hostname) or 1-64 letters, digits, "_", "." or "-"',
      }),
    /** Broker URLs, tried in turn ("mqtt://leader.local:1883"); empty = commands only from files (fleet apply). */
    brokers: z
      .array(
        z.string().refine((s) => /^mqtts?:\/\/[^/\s]+$/.test(s), {
          message: 'expected "mqtt://HOST:PORT" or "mqtts://HOST:PORT"',
        }),
      )
      .default([]),
    username: z.string().default(''),
    /** A file holding the broker password (one line); "" = none. */
    password_file: z.string().default(''),
    /** Commands sent without --at take effect this long after they are sent, on the next whole second. */
    lead_ms: z.number().int().min(0).max(600_000).default(2000),
    /** Operator public keys (jaudiosync fleet keygen prints the entry). */
    keys: z
      .array(
        z
          .object({
            id: fleetId('key id'),
            role: z.enum(['admin', 'dj', 'volume']),
            /** Ed25519 public key, 32 bytes in base64. */
            public_key: z.string().refine((s) => /^[A-Za-z0-9+/]{43}=$/.test(s), {
              message:
                'expected an Ed25519 public key: 32 bytes in base64 (44 characters), as "jaudiosync fleet keygen" prints it',
            }),
          })
          .strict(),
      )
      .default([])
      .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, { message: 'expected every key id once' }),
  })
  .strict()
  .default({})
  .refine((f) => !f.enabled || f.id !== '', {
    message: 'fleet.enabled = true needs fleet.id (the same on every device of the fleet)',
    path: ['id'],
  });

const schema = z
  .object({
    hardware: z
      .object({
        /**
         * real: the devices (a missing one waited for); simulated: the twins; auto: real as soon as any
         * timing part exists here, else all twins (the embedded demo only). A config file means a real
         * device unless it says otherwise: a Pi silently on twins would free-run looking locked.
         */
        mode: z.enum(['auto', 'real', 'simulated']).default('real'),
      })
      .strict()
      .default({}),
    gps: z
      .object({
        enabled: z.boolean().default(true),
        port: z.string().min(1).default('/dev/serial0'),
        baud: z
          .number()
          .int()
          .refine((b) => [4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800].includes(b), {
            message: 'expected a standard baud rate: 4800, 9600, 19200, 38400, 57600, 115200, 230400 or 460800',
          })
          .default(9600),
        /** Kernel PPS assert file; "" when no PPS is wired. */
        pps: z.string().default('/sys/class/pps/pps0/assert'),
        rollover: z.enum(['correct', 'reject']).default('correct'),
      })
      .strict()
      .default({}),
    rtc: z
      .object({
        enabled: z.boolean().default(true),
        bus: z.number().int().min(0).max(255).default(1),
        address: z.number().int().min(0x03).max(0x77).default(0x68),
        /** Kernel PPS file of the SQW line (a second pps-gpio on GPIO17); "" = poll the seconds register. */
        sqw: z.string().default('/sys/class/pps/pps1/assert'),
        /** Set the RTC on the second when GPS locks and it is off by more than 1 ms (or lost power). */
        set_on_lock: z.boolean().default(true),
        /**
         * Its measured rate and last set (JSON, written atomically, merged); "" = rtc-calibration.json in the state
         * folder.
         */
        calibration: z.string().default(''),
      })
      .strict()
      .default({}),
    ntp: z
      .object({
        /** host or host:port; tried only when nothing better (GPS, RTC) is locked. Empty: no NTP. */
        servers: z.array(z.string().min(1)).default([]),
        poll_s: z.number().min(1).max(86_400).default(64),
      })
      .strict()
      .default({}),
    clock: z
      .object({
        /** How long to wait for a lock before carrying on with the best clock there is. */
        lock_timeout_s: z.number().min(0).max(3600).default(20),
        /**
         * Place the start only when the clock's error bound is below this. 5 ms: a calibrated RTC or GPS
         * is far inside it, NMEA-only time or an RTC of unknown history is not (two speakers 5 ms apart
         * are 1.7 m of sound apart: past that a beat is heard twice). "Any clock" is when_unsure = "start".
         */
        max_error_ms: z.number().positive().default(5),
        /**
         * At the start instant with a bound over max_error_ms: "wait" (silence, then join late on the exact sample) or
         * "start" anyway.
         */
        when_unsure: z.enum(['wait', 'start']).default('wait'),
        /** Drift log (JSON Lines, docs/drift-log.md); "" = none. */
        drift_log: z.string().default(''),
      })
      .strict()
      .default({}),
    schedule: z
      .object({
        start: StartSpec.default('next-10s'),
        /** IANA zone of a daily or cron start (e.g. "Europe/Berlin"); "" = the system's zone. */
        timezone: z
          .string()
          .refine((s) => s === '' || isTimeZone(s), {
            message: 'expected an IANA time zone such as "Europe/Berlin" (timedatectl list-timezones)',
          })
          .default(''),
        /** Before the start: how early to wake, decode and open the stream (the exact start is the aligner's). */
        wake_early_s: z.number().min(5).max(3600).default(60),
        /** Fade out at this instant (ISO 8601 with offset) and end; "" = play the playlist to its end. */
        stop: z
          .string()
          .superRefine((s, ctx) => {
            if (s === '' || parseStartSpec(s)?.kind === 'absolute') return;
            const message = isoCalendarError(s) ?? 'expected "" or an ISO 8601 instant with offset';
            ctx.addIssue({ code: z.ZodIssueCode.custom, message });
          })
          .default(''),
        /** Silent windows "FROM/TO" (ISO 8601 with offsets): the timeline runs on, so music resumes in sync. */
        pauses: z
          .array(
            z.string().superRefine((s, ctx) => {
              if (parsePause(s) !== undefined) return;
              const calendar = s.split('/').map(isoCalendarError).find(Boolean);
              const expected = 'expected "FROM/TO", two ISO 8601 instants with offsets, FROM before TO';
              ctx.addIssue({ code: z.ZodIssueCode.custom, message: calendar ?? expected });
            }),
          )
          .default([]),
      })
      .strict()
      .default({}),
    playlist: z
      .object({
        path: z.string().min(1).default('Music/Playlist.m3u8'),
        gap_ms: z.number().min(0).max(600_000).default(0),
        /** Times the playlist plays back to back on the timeline (a ride longer than the playlist). */
        repeat: z.number().int().min(1).max(1000).default(1),
        /** Timeline manifest ("" = PLAYLIST.manifest.json when it exists): identical timelines on every device. */
        manifest: z.string().default(''),
      })
      .strict()
      .default({}),
    audio: z
      .object({
        /** alsa: the audio device (a WAV file when there is none); wav: always the file. */
        output: z.enum(['alsa', 'wav']).default('alsa'),
        device: z.string().min(1).default('default'),
        wav_path: z.string().min(1).default('jaudiosync-output.wav'),
        sample_rate: z
          .number()
          .int()
          .refine((r) => [44100, 48000, 88200, 96000].includes(r), { message: 'expected 44100, 48000, 88200 or 96000' })
          .default(48000),
        channels: z.number().int().min(1).max(2).default(2),
        /**
         * 1024 frames (21 ms): RtAudio's ALSA buffer is 4 periods, and with 256-frame periods a busy Pi
         * (or this 2-core test machine) misses a deadline now and then; RtAudio then drops a whole period.
         * Latency costs us nothing (it is measured and compensated), a dropped period costs sync.
         */
        period_frames: z
          .number()
          .int()
          .min(64)
          .max(8192)
          .refine((n) => (n & (n - 1)) === 0, { message: 'expected a power of two' })
          .default(1024),
        /** Periods written ahead of the device: 4 × 21 ms of margin against event-loop stalls. */
        queue_periods: z.number().int().min(2).max(64).default(4),
        latency_trim_ms: z.number().min(-1000).max(1000).default(0),
        /** Volume in dB (0 = as decoded, -6 = half); changes ramp smoothly. */
        volume_db: z.number().min(-90).max(12).default(0),
        /** stereo, mono (L+R on both), left or right (that channel on both: a spread stereo pair). */
        channel_mode: z.enum(['stereo', 'mono', 'left', 'right']).default('stereo'),
        /** Device latency after RtAudio's buffer (server, DAC), measured with bench/start-error. */
        output_latency_ms: z.number().min(0).max(1000).default(0),
        ffmpeg: z.string().default(''),
      })
      .strict()
      .default({}),
    service: z
      .object({
        /**
         * Resume position, the clock's learned frequency, calibration. "" = $STATE_DIRECTORY (set by
         * systemd's StateDirectory=), else $XDG_STATE_HOME/jaudiosync (~/.local/state/jaudiosync).
         */
        state_dir: z.string().default(''),
        /**
         * The status socket's folder. "" = $RUNTIME_DIRECTORY (systemd), else $XDG_RUNTIME_DIR/jaudiosync, else
         * /tmp/jaudiosync-UID.
         */
        runtime_dir: z.string().default(''),
        /** Status LED on this BCM GPIO (through onoff); -1 = none. */
        led_gpio: z.number().int().min(-1).max(53).default(-1),
      })
      .strict()
      .default({}),
    fleet: FleetSection,
    sim: z
      .object({
        talker: z.enum(['GP', 'GN', 'GL', 'GA', 'GB', 'BD']).default('GP'),
        gps_latency_ms: z.number().min(20).max(900).default(150),
        pps_jitter_ns: z.number().min(0).max(1_000_000).default(1500),
        /** The simulated DS3231: rate (ppm, + = fast) and how far off it starts (ms). */
        rtc_ppm: z.number().min(-100).max(100).default(1.5),
        rtc_offset_ms: z.number().min(-100_000).max(100_000).default(2),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof schema> & { source: string; baseDir: string };

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid config\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The embedded default: simulated hardware where none is found, the bundled playlist, next 10 s. */
export const EMBEDDED_DEFAULT_TOML = `# jaudiosync embedded default
[hardware]
mode = "auto"
[schedule]
start = "next-10s"
[playlist]
path = "Music/Playlist.m3u8"
`;

export function loadConfigFile(path: string): Config {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(path, [
      code === 'ENOENT'
        ? 'file not found (check the path; `jaudiosync config example` prints one to start from)'
        : `cannot read it: ${(e as Error).message}`,
    ]);
  }
  return parseConfig(decodeConfigText(bytes), path, dirname(resolve(path)));
}

/**
 * A config as Windows editors save it (the boot partition is edited on laptops): a UTF-8 or UTF-16
 * byte-order mark is dropped and CRLF line ends become LF, so multi-line strings carry no stray CR.
 */
export function decodeConfigText(bytes: Buffer): string {
  let text: string;
  if (bytes[0] === 0xff && bytes[1] === 0xfe) text = bytes.subarray(2).toString('utf16le');
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) text = Buffer.from(bytes.subarray(2)).swap16().toString('utf16le');
  else text = bytes.toString('utf8');
  return text.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
}

/**
 * The config file the service uses: BOOT_CONFIG_PATH when present, else DEFAULT_CONFIG_PATH when
 * present, else none. `root` prefixes both (tests use a fake tree); `shadows` is the file it wins over.
 */
export function systemConfigPath(root = ''): { path: string; shadows?: string } | undefined {
  const boot = join(root, BOOT_CONFIG_PATH),
    etc = join(root, DEFAULT_CONFIG_PATH);
  if (existsSync(boot)) return { path: boot, shadows: existsSync(etc) ? etc : undefined };
  return existsSync(etc) ? { path: etc } : undefined;
}

export function embeddedConfig(): Config {
  return parseConfig(EMBEDDED_DEFAULT_TOML, EMBEDDED_CONFIG_NAME, PACKAGE_DIR);
}

export function parseConfig(text: string, source: string, baseDir: string): Config {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : '';
    throw new ConfigError(source, [`not valid TOML${where}: ${(e as Error).message.split('\n')[0]}`]);
  }
  const result = schema.safeParse(raw);
  if (!result.success)
    throw new ConfigError(
      source,
      result.error.issues.map((i) => describeIssue(i, raw)),
    );
  return { ...result.data, source, baseDir };
}

function describeIssue(issue: z.ZodIssue, raw: unknown): string {
  const key = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') {
    const section = key ? `[${key}]` : 'the top level';
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${[...issue.path, k].join('.')}"`).join(', ')} in ${section}; see "jaudiosync config example" for every key`;
  }
  const value = issue.path.reduce<unknown>(
    (o, k) => (o && typeof o === 'object' ? (o as Record<string | number, unknown>)[k] : undefined),
    raw,
  );
  const shown = value === undefined ? '' : ` = ${JSON.stringify(value)}`;
  if (issue.code === 'invalid_type') return `${key}${shown}: expected ${issue.expected}, got ${issue.received}`;
  if (issue.code === 'invalid_enum_value')
    return `${key}${shown}: expected one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}`;
  if (issue.code === 'too_small')
    return `${key}${shown}: expected ${issue.type === 'string' ? 'a non-empty string' : `at least ${issue.minimum}`}`;
  if (issue.code === 'too_big') return `${key}${shown}: expected at most ${issue.maximum}`;
  return `${key}${shown}: ${issue.message}`;
}

/** The state directory the config names, or the environment's (see service.state_dir). */
export function stateDir(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  if (config.service.state_dir) return resolvePath(config, config.service.state_dir);
  if (env.STATE_DIRECTORY) return env.STATE_DIRECTORY.split(':')[0]!;
  return join(env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state'), 'jaudiosync');
}

/**
 * The RTC calibration store (rtc.calibration, else rtc-calibration.json in the state folder): service and calibrate
 * share it.
 */
export function rtcCalibrationPath(config: Config): string {
  return config.rtc.calibration
    ? resolvePath(config, config.rtc.calibration)
    : defaultCalibrationPath(stateDir(config));
}

/** The status socket's folder (see service.runtime_dir). */
export function runtimeDir(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  if (config.service.runtime_dir) return resolvePath(config, config.service.runtime_dir);
  if (env.RUNTIME_DIRECTORY) return env.RUNTIME_DIRECTORY.split(':')[0]!;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'jaudiosync');
  return join('/tmp', `jaudiosync-${process.getuid?.() ?? 0}`);
}

/** Resolves a path from the config against the config's folder. */
export function resolvePath(config: Config, p: string): string {
  return isAbsolute(p) ? p : resolve(config.baseDir, p);
}

export type StartSpecParsed =
  | { kind: 'next'; everySec: number; minLeadSec: number }
  | { kind: 'relative'; sec: number }
  | { kind: 'absolute'; utcNs: bigint }
  | { kind: 'daily'; hour: number; minute: number; second: number }
  | { kind: 'cron'; expr: string };

/** "next-10s": the next whole 10 s of UTC at least 5 s away, so every device picks the same one. */
export const NEXT_MIN_LEAD_SEC = 5;

export function parseStartSpec(s: string): StartSpecParsed | undefined {
  const daily = parseDaily(s);
  if (daily) return { kind: 'daily', ...daily };
  const cron = parseCron(s, 'UTC');
  if (cron) return 'expr' in cron ? { kind: 'cron', expr: cron.expr } : undefined;
  const next = /^next-(\d+)s$/.exec(s);
  if (next && Number(next[1]) > 0) return { kind: 'next', everySec: Number(next[1]), minLeadSec: NEXT_MIN_LEAD_SEC };
  const rel = /^\+(\d+(?:\.\d+)?)$/.exec(s);
  if (rel) return { kind: 'relative', sec: Number(rel[1]) };
  // ISO 8601 with an explicit offset or Z; a local time without an offset would differ per device.
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !isoCalendarError(s)) {
    const ms = Date.parse(s);
    if (Number.isFinite(ms)) return { kind: 'absolute', utcNs: BigInt(ms) * 1_000_000n };
  }
  return undefined;
}

const MONTHS = 'January February March April May June July August September October November December'.split(' ');

/**
 * Why an ISO 8601 instant's fields name no time on the calendar, or undefined. Date.parse takes
 * "2026-02-30" for 2 March: a typo in a ride's date would start the music on another day.
 */
export function isoCalendarError(s: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))?$/.exec(
    s.trim(),
  );
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec, offH, offM] = m.slice(1).map((x) => Number(x ?? 0)) as number[];
  const date = m.slice(1, 4).join('-');
  if (mo < 1 || mo > 12) return `${date} has no month ${mo} (months are 01 to 12)`;
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d < 1 || d > days) return `${MONTHS[mo - 1]} ${y} has no day ${d} (it has ${days})`;
  if (h > 23 || mi > 59 || sec > 59)
    return `${m[4]}:${m[5]}${m[6] ? `:${m[6]}` : ''} is not a time of day (00:00:00 to 23:59:59)`;
  if (offH > 23 || offM > 59) return `the UTC offset is out of range (-23:59 to +23:59)`;
  return undefined;
}

/** "FROM/TO" as two UTC ns instants, or undefined. */
export function parsePause(s: string): { fromUtcNs: bigint; toUtcNs: bigint } | undefined {
  const [a, b, ...rest] = s.split('/');
  if (!a || !b || rest.length) return undefined;
  const from = parseStartSpec(a.trim()),
    to = parseStartSpec(b.trim());
  if (from?.kind !== 'absolute' || to?.kind !== 'absolute' || to.utcNs <= from.utcNs) return undefined;
  return { fromUtcNs: from.utcNs, toUtcNs: to.utcNs };
}

/** The start instant (UTC ns) of a spec, given UTC now. */
/**
 * The start instant a spec means at `utcNowNs`. A daily or cron schedule gives its latest
 * occurrence when that began less than `playingSec` ago (the playlist is still playing: join it),
 * else the next one.
 */
export function resolveStart(
  spec: StartSpecParsed,
  utcNowNs: bigint,
  opts: { timeZone?: string; playingSec?: number } = {},
): bigint {
  const S = 1_000_000_000n;
  switch (spec.kind) {
    case 'absolute':
      return spec.utcNs;
    case 'relative':
      return utcNowNs + BigInt(Math.round(spec.sec * 1e9));
    case 'next': {
      const every = BigInt(spec.everySec) * S;
      const earliest = utcNowNs + BigInt(spec.minLeadSec) * S;
      return ((earliest + every - 1n) / every) * every;
    }
    case 'daily':
    case 'cron': {
      const timeZone = opts.timeZone || systemTimeZone();
      const o: Occurrences = spec.kind === 'daily' ? { ...spec, timeZone } : { ...spec, timeZone };
      const nowMs = Number(utcNowNs / 1_000_000n);
      const prev = previousOccurrence(o, nowMs);
      if (prev !== undefined && opts.playingSec && nowMs - prev < opts.playingSec * 1000)
        return BigInt(prev) * 1_000_000n;
      return BigInt(nextOccurrence(o, nowMs)!) * 1_000_000n;
    }
  }
}

/** A repeating schedule (daily, cron) has a next start after every playlist. */
export function isRepeating(spec: StartSpecParsed): boolean {
  return spec.kind === 'daily' || spec.kind === 'cron';
}

export function configToToml(c: Config): string {
  const { source: _s, baseDir: _b, ...rest } = c;
  const lines: string[] = [`# resolved from ${c.source}`];
  for (const [section, values] of Object.entries(rest)) {
    lines.push('', `[${section}]`);
    const tables: string[] = [];
    for (const [k, v] of Object.entries(values as Record<string, unknown>)) {
      // An array of tables ([[fleet.keys]]) cannot be written inline as JSON.
      if (Array.isArray(v) && v.length > 0 && v.every((x) => x && typeof x === 'object')) {
        for (const t of v as Array<Record<string, unknown>>)
          tables.push(
            '',
            `[[${section}.${k}]]`,
            ...Object.entries(t).map(([tk, tv]) => `${tk} = ${JSON.stringify(tv)}`),
          );
      } else lines.push(`${k} = ${JSON.stringify(v)}`);
    }
    lines.push(...tables);
  }
  return lines.join('\n') + '\n';
}
