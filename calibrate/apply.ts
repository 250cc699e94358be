import { readFile } from 'node:fs/promises';
import type { Ds3231 } from '../drivers/rtc/ds3231.js';
import { AGING_MAX_LSB, AGING_MIN_LSB, AGING_PPM_PER_LSB } from '../drivers/rtc/registers.js';
import { writeFileAtomic } from '../src/service/atomic-file.js';
import type { SubjectAnalysis, TemperatureModel } from './analysis.js';

/**
 * `calibrate apply`: the DS3231's measured rate becomes an aging-offset change (≈ 0.1 ppm per LSB
 * at 25 °C, positive slows it), the previous value is saved, the new one written and a conversion
 * forced; the calibration file gets the residual rate and the temperature models, which the clock
 * layer's holdover reads (rtc.calibration). `calibrate verify` compares a new measurement with it.
 */


export interface CalibrationFile {
  v: 1;
  /** What the RTC runs at after the change (ppm, + = fast): the measured rate minus what the aging removes. */
  ratePpm: number;
  rateUncertaintyPpm: number;
  measuredAt: string;
  rtc?: { measuredPpm: number; agingBefore: number; agingAfter: number; temperature?: TemperatureModel; appliedAt?: string };
  system?: { ppm: number; uncertaintyPpm: number; temperature?: TemperatureModel };
}

export interface AgingPlan {
  measuredPpm: number;
  agingBefore: number;
  agingAfter: number;
  /** Rate left after the change (the aging register's quantum and its range limit). */
  residualPpm: number;
  clamped: boolean;
}

/** RTC fast by +x ppm needs +x/0.1 LSB (positive aging slows it). */
export function planAging(measuredPpm: number, agingBefore: number): AgingPlan {
  const wanted = agingBefore + Math.round(measuredPpm / AGING_PPM_PER_LSB);
  const agingAfter = Math.max(AGING_MIN_LSB, Math.min(AGING_MAX_LSB, wanted));
  return { measuredPpm, agingBefore, agingAfter, residualPpm: measuredPpm - (agingAfter - agingBefore) * AGING_PPM_PER_LSB, clamped: agingAfter !== wanted };
}

export async function applyCalibration(o: {
  rtc?: Ds3231; rtcAnalysis?: SubjectAnalysis; systemAnalysis?: SubjectAnalysis; calibrationPath: string; dryRun: boolean; nowIso: string; log: (m: string) => void;
}): Promise<{ plan?: AgingPlan; file: CalibrationFile }> {
  let plan: AgingPlan | undefined;
  const file: CalibrationFile = { v: 1, ratePpm: 0, rateUncertaintyPpm: 0, measuredAt: o.nowIso };
  if (o.rtcAnalysis) {
    if (!o.rtc) throw new Error('no DS3231 to apply the RTC rate to (rtc.enabled, rtc.bus in the config; or --dry-run)');
    const before = (await o.rtc.aging()).lsb;
    plan = planAging(o.rtcAnalysis.frequency.ppm, before);
    o.log(`DS3231 measured ${fmt(plan.measuredPpm)} ppm ± ${o.rtcAnalysis.frequency.uncertaintyPpm.toFixed(3)}: aging ${before} -> ${plan.agingAfter} (${fmt(-(plan.agingAfter - before) * AGING_PPM_PER_LSB)} ppm), leaving ${fmt(plan.residualPpm)} ppm${plan.clamped ? ' (the aging register is at its limit: the crystal is further off than it can trim)' : ''}`);
    file.ratePpm = Number(plan.residualPpm.toFixed(4));
    file.rateUncertaintyPpm = Number(Math.max(o.rtcAnalysis.frequency.uncertaintyPpm, AGING_PPM_PER_LSB / 2).toFixed(4));
    file.rtc = { measuredPpm: plan.measuredPpm, agingBefore: before, agingAfter: plan.agingAfter, temperature: o.rtcAnalysis.temperature.kind !== 'none' ? o.rtcAnalysis.temperature : undefined };
    if (!o.dryRun) {
      await o.rtc.setAging(plan.agingAfter); // writes and forces a conversion: it takes effect now
      file.rtc.appliedAt = o.nowIso;
    }
  }
  if (o.systemAnalysis) {
    file.system = { ppm: o.systemAnalysis.frequency.ppm, uncertaintyPpm: o.systemAnalysis.frequency.uncertaintyPpm, temperature: o.systemAnalysis.temperature.kind !== 'none' ? o.systemAnalysis.temperature : undefined };
  }
  if (o.dryRun) {
    o.log(`--dry-run: nothing written (${o.calibrationPath} would get the residual rate and the temperature models)`);
  } else {
    const previous = await readCalibration(o.calibrationPath);
    if (previous) await writeFileAtomic(`${o.calibrationPath}.previous`, JSON.stringify(previous, null, 2) + '\n');
    await writeFileAtomic(o.calibrationPath, JSON.stringify(file, null, 2) + '\n');
    o.log(`wrote ${o.calibrationPath}${previous ? ` (the previous one kept as ${o.calibrationPath}.previous)` : ''}`);
  }
  return { plan, file };
}

export async function readCalibration(path: string): Promise<CalibrationFile | undefined> {
  try {
    const f = JSON.parse(await readFile(path, 'utf8')) as CalibrationFile;
    return typeof f.ratePpm === 'number' ? f : undefined;
  } catch {
    return undefined;
  }
}

/** `calibrate verify`: how much better the RTC runs than before the last apply. */
export function verifySummary(cal: CalibrationFile | undefined, now: SubjectAnalysis): string {
  const nowPpm = now.frequency.ppm;
  if (!cal?.rtc) return `DS3231 now ${fmt(nowPpm)} ppm ± ${now.frequency.uncertaintyPpm.toFixed(3)} (no earlier calibrate apply to compare with)`;
  const before = cal.rtc.measuredPpm;
  const factor = Math.abs(before) / Math.max(Math.abs(nowPpm), now.frequency.uncertaintyPpm, 1e-4);
  return `DS3231 before ${fmt(before)} ppm, now ${fmt(nowPpm)} ppm ± ${now.frequency.uncertaintyPpm.toFixed(3)}: ${factor >= 1 ? `${factor.toFixed(1)}x smaller` : 'not better (measure longer, or the temperature differs)'}; 3 h drift ${(Math.abs(before) * 10.8).toFixed(1)} ms -> ${(Math.abs(nowPpm) * 10.8).toFixed(2)} ms`;
}

const fmt = (v: number) => (v >= 0 ? '+' : '') + v.toFixed(3);
