import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { Progress } from './progress.js';
import { join, resolve } from 'node:path';
import { chooseHardware } from './hardware-choice.js';
import { applyCalibration, applyRefusal, verifyRefusal, verifySummary } from '../../calibrate/apply.js';
import { record, parseDuration, type RecordReference, type RecordSubject } from '../../calibrate/record.js';
import { buildReport, formatReport, writeSvgs } from '../../calibrate/report.js';
import type { Reference } from '../../calibrate/recording.js';
import { resolvePath, rtcCalibrationPath, stateDir, type Config } from '../service/config.js';
import type { Logger } from '../service/log.js';
import { readCalibration } from '../time/rtc-calibration.js';
import { openRtc } from './hardware-cli.js';

/**
 * `jaudiosync calibrate record|report|apply|verify` (calibrate/ holds the work; this is the CLI).
 * Paths given on the command line are relative to the current directory, as in any shell command;
 * paths inside the config are relative to the config's folder.
 */

const REF_MAP: Record<string, Reference> = { gps: 'gps+pps', ntp: 'ntp', rtc: 'rtc' };
/** Recordings smaller than this (about 2 h at 1 Hz) are read in well under a second: no progress line. */
const PROGRESS_FROM_BYTES = 8 * 1048576;

const fromCwd = (p: string) => resolve(process.cwd(), p);

/** The calibration store the service reads: rtc.calibration, or "" = <state dir>/rtc-calibration.json. */
export const calibrationPath = rtcCalibrationPath;

export async function calibrateRecord(o: {
  config: Config;
  reference: string;
  subject: string;
  duration: string;
  out?: string;
  log: Logger;
}): Promise<number> {
  const durationSec = parseDuration(o.duration); // refuse a bad duration before anything starts
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  // The state dir is ours to create; a folder the user named must exist (a typo is not created).
  if (o.out === undefined) await mkdir(stateDir(o.config), { recursive: true });
  const out =
    o.out !== undefined ? fromCwd(o.out) : join(stateDir(o.config), `calibration-${o.subject}-vs-${o.reference}.jsonl`);
  await record({
    config: o.config,
    hardware: chooseHardware(o.config),
    reference: o.reference as RecordReference,
    subject: o.subject as RecordSubject,
    durationSec,
    out,
    calibrationPath: calibrationPath(o.config),
    log: o.log,
    abort: abort.signal,
  });
  return 0;
}

export async function calibrateReport(
  files: string[],
  o: { svg?: string; json?: boolean; reference?: string },
): Promise<number> {
  const paths = files.map(fromCwd);
  const bytes = paths.reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
  // Large recordings take seconds (minutes on a Pi): show it moving.
  const progress =
    bytes > PROGRESS_FROM_BYTES
      ? new Progress({
          label: 'calibrate report',
          total: bytes,
          unit: 'MiB read',
          amount: (v) => (v / 1048576).toFixed(0),
        })
      : undefined;
  const { report, series } = await buildReport(paths, {
    reference: o.reference ? REF_MAP[o.reference] : undefined,
    onBytes: progress && ((n) => progress.tick(n)),
  });
  progress?.finish();
  if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(formatReport(report));
  if (o.svg) {
    const dir = fromCwd(o.svg);
    const written = await writeSvgs(dir, report, series);
    process.stderr.write(`plots: ${written.map((w) => join(dir, w)).join(', ')} (open index.html)\n`);
  }
  return report.devices.some((d) => Object.keys(d.subjects).length > 0) ? 0 : 1;
}

function recordingFiles(config: Config, files: string[]): string[] {
  if (files.length) return files.map(fromCwd);
  if (!config.clock.drift_log)
    throw new Error(
      "give the recording (FILE...), or set clock.drift_log in the config to use the service's drift log",
    );
  return [resolvePath(config, config.clock.drift_log)];
}

export async function calibrateApply(
  files: string[],
  o: { config: Config; dryRun: boolean; simulate: boolean; assumeReal?: boolean; log: Logger },
): Promise<number> {
  const paths = recordingFiles(o.config, files);
  const { report } = await buildReport(paths);
  const d = report.devices[0];
  if (report.devices.length > 1)
    throw new Error(
      `apply takes the recordings of ONE device (got ${report.devices.map((x) => x.device).join(', ')}): run it on each device with its own recording`,
    );
  if (!d || (!d.subjects.rtc && !d.subjects.system))
    throw new Error(`nothing to apply: ${d?.problems.join('; ') || 'no analysable subject in the recording'}`);
  const rec = d.recording;
  if (d.subjects.rtc) {
    const why = applyRefusal(d.subjects.rtc, rec.simulatedSources, { simulated: o.simulate, assumeReal: o.assumeReal });
    if (why) throw new Error(`not trimming the DS3231: ${why}`);
  }
  const opened = d.subjects.rtc
    ? await openRtc({ bus: o.config.rtc.bus, address: o.config.rtc.address, simulate: o.simulate })
    : undefined;
  try {
    await applyCalibration({
      rtc: opened?.rtc,
      rtcAnalysis: d.subjects.rtc,
      systemAnalysis: d.subjects.system,
      recording: rec,
      calibrationPath: calibrationPath(o.config),
      dryRun: o.dryRun,
      nowIso: new Date().toISOString(),
      log: o.log.info,
    });
    if (!o.dryRun)
      o.log.info(
        `next: record again for an hour or more (calibrate record --out NEW-FILE), then jaudiosync calibrate verify NEW-FILE`,
      );
  } finally {
    await opened?.bus.close();
  }
  return 0;
}

export async function calibrateVerify(files: string[], o: { config: Config }): Promise<number> {
  const paths = recordingFiles(o.config, files);
  const { report } = await buildReport(paths);
  const rtc = report.devices[0]?.subjects.rtc;
  if (!rtc) throw new Error('the recording has no RTC records: record with --subject rtc --reference gps');
  const store = await readCalibration(calibrationPath(o.config));
  if (store.problem) throw new Error(store.problem);
  const why = verifyRefusal(store.file, report.devices[0]!.recording);
  if (why) throw new Error(`cannot verify with it: ${why}`);
  process.stdout.write(verifySummary(store.file, rtc) + '\n');
  return 0;
}
