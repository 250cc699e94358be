import { chooseHardware } from './hardware-choice.js';
import { applyCalibration, readCalibration, verifySummary } from '../../calibrate/apply.js';
import { record, parseDuration, type RecordReference, type RecordSubject } from '../../calibrate/record.js';
import { buildReport, formatReport, writeSvgs } from '../../calibrate/report.js';
import type { Reference } from '../../calibrate/recording.js';
import { resolvePath, stateDir, type Config } from '../service/config.js';
import type { Logger } from '../service/log.js';
import { openRtc } from './hardware-cli.js';
import { join } from 'node:path';

/** `jaudiosync calibrate record|report|apply|verify` (calibrate/ holds the work; this is the CLI). */

const REF_MAP: Record<string, Reference> = { gps: 'gps+pps', ntp: 'ntp', rtc: 'rtc' };

export async function calibrateRecord(o: { config: Config; reference: string; subject: string; duration: string; out?: string; log: Logger }): Promise<number> {
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  const out = o.out ?? join(stateDir(o.config), `calibration-${o.subject}-vs-${o.reference}.jsonl`);
  await record({ config: o.config, hardware: chooseHardware(o.config), reference: o.reference as RecordReference, subject: o.subject as RecordSubject, durationSec: parseDuration(o.duration), out, log: o.log, abort: abort.signal });
  return 0;
}

export async function calibrateReport(files: string[], o: { svg?: string; json?: boolean; reference?: string }): Promise<number> {
  const { report, series } = await buildReport(files, { reference: o.reference ? REF_MAP[o.reference] : undefined });
  if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(formatReport(report));
  if (o.svg) {
    const written = await writeSvgs(o.svg, report, series);
    process.stderr.write(`plots: ${written.map((w) => join(o.svg!, w)).join(', ')} (open index.html)\n`);
  }
  return report.devices.some((d) => Object.keys(d.subjects).length > 0) ? 0 : 1;
}

function recordingFiles(config: Config, files: string[]): string[] {
  if (files.length) return files;
  if (!config.clock.drift_log) throw new Error('give the recording (FILE...), or set clock.drift_log in the config to use the service\'s drift log');
  return [resolvePath(config, config.clock.drift_log)];
}

function calibrationPath(config: Config): string {
  return config.rtc.calibration ? resolvePath(config, config.rtc.calibration) : join(stateDir(config), 'rtc-calibration.json');
}

export async function calibrateApply(files: string[], o: { config: Config; dryRun: boolean; simulate: boolean; log: Logger }): Promise<number> {
  const { report } = await buildReport(recordingFiles(o.config, files));
  const d = report.devices[0];
  if (!d || (!d.subjects.rtc && !d.subjects.system)) throw new Error(`nothing to apply: ${d?.problems.join('; ') || 'no analysable subject in the recording'}`);
  const opened = d.subjects.rtc ? await openRtc({ bus: o.config.rtc.bus, address: o.config.rtc.address, simulate: o.simulate }) : undefined;
  try {
    await applyCalibration({ rtc: opened?.rtc, rtcAnalysis: d.subjects.rtc, systemAnalysis: d.subjects.system, calibrationPath: calibrationPath(o.config), dryRun: o.dryRun, nowIso: new Date().toISOString(), log: o.log.info });
    if (!o.dryRun) o.log.info(`next: record again for an hour or more, then jaudiosync calibrate verify FILE`);
  } finally {
    await opened?.bus.close();
  }
  return 0;
}

export async function calibrateVerify(files: string[], o: { config: Config }): Promise<number> {
  const { report } = await buildReport(recordingFiles(o.config, files));
  const rtc = report.devices[0]?.subjects.rtc;
  if (!rtc) throw new Error('the recording has no RTC records: record with --subject rtc --reference gps');
  process.stdout.write(verifySummary(await readCalibration(calibrationPath(o.config)), rtc) + '\n');
  return 0;
}
