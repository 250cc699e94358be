import type { Ds3231 } from '../drivers/rtc/ds3231.js';
import { AGING_MAX_LSB, AGING_MIN_LSB, AGING_PPM_PER_LSB } from '../drivers/rtc/registers.js';
import {
  readCalibration,
  updateCalibration,
  type CalibrationFile,
  type RecordingFingerprint,
} from '../src/time/rtc-calibration.js';
import { writeFileAtomic } from '../src/util/files.js';
import type { SubjectAnalysis } from './analysis.js';
import type { Recording } from './recording.js';

export { fingerprint } from './recording.js';

/**
 * `calibrate apply`: the DS3231's measured rate becomes an aging-offset change (≈ 0.1 ppm per LSB
 * at 25 °C, positive slows it), written and a conversion forced; the calibration store (the file
 * the service reads) gets the residual rate, the trim, the temperature models and which recording
 * they came from, merged with what the service keeps there (its last set on the second).
 * `calibrate verify` judges a later recording against it, never the same one.
 */

/**
 * The rate must be known to a third of one aging step (1σ) before the register is touched: then a
 * trim lands within one step of right with 3σ confidence; a coarser rate would trim noise.
 */
export const MAX_APPLY_UNCERTAINTY_PPM = AGING_PPM_PER_LSB / 3;
/** And over at least an hour: the DS3231 retunes every 64 s; fewer conversions do not average out. */
export const MIN_APPLY_SPAN_SEC = 3600;
/** A trimmed rate is never claimed better than half a step: the LSB's worth varies with temperature. */
const TRIMMED_UNCERTAINTY_PPM = AGING_PPM_PER_LSB / 2;

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
  return {
    measuredPpm,
    agingBefore,
    agingAfter,
    residualPpm: measuredPpm - (agingAfter - agingBefore) * AGING_PPM_PER_LSB,
    clamped: agingAfter !== wanted,
  };
}

/**
 * Why the RTC must not be trimmed from this measurement, or undefined. `target` is what would be
 * trimmed: a real chip is never trimmed from a simulated (or unlabelled, unless assumeReal) recording.
 */
export function applyRefusal(
  a: SubjectAnalysis,
  sim: Recording['simulated'],
  target: { simulated: boolean; assumeReal?: boolean },
): string | undefined {
  const f = a.frequency;
  const hours = (f.spanSec / 3600).toFixed(2);
  if (!target.simulated) {
    if (sim && Object.values(sim).some(Boolean)) {
      const which = Object.entries(sim)
        .filter(([, v]) => v)
        .map(([k]) => k)
        .join(', ');
      return `the recording was made on SIMULATED sources (${which}): a real DS3231 is never trimmed from it (--simulate applies it to the emulated chip)`;
    }
    if (!sim && !target.assumeReal)
      return 'the recording does not say whether its sources were real (no header record: made before this version, or by another tool); record again with calibrate record, or pass --assume-real if you know GPS and the DS3231 were real';
  }
  if (f.spanSec < MIN_APPLY_SPAN_SEC)
    return `the recording covers ${hours} h: a trim needs at least ${MIN_APPLY_SPAN_SEC / 3600} h (6 h or more is better); record longer`;
  if (!(f.uncertaintyPpm <= MAX_APPLY_UNCERTAINTY_PPM)) {
    return `the RTC's rate is known only to ±${f.uncertaintyPpm.toFixed(3)} ppm (1σ, over ${hours} h): a trim needs ±${MAX_APPLY_UNCERTAINTY_PPM.toFixed(3)} ppm or better (a third of one aging step, ${AGING_PPM_PER_LSB} ppm); record longer, at a steadier temperature`;
  }
  return undefined;
}

const fmt = (v: number, d = 3) => (v >= 0 ? '+' : '') + v.toFixed(d);

export async function applyCalibration(o: {
  rtc?: Ds3231;
  rtcAnalysis?: SubjectAnalysis;
  systemAnalysis?: SubjectAnalysis;
  recording: RecordingFingerprint;
  calibrationPath: string;
  dryRun: boolean;
  nowIso: string;
  log: (m: string) => void;
}): Promise<{ plan?: AgingPlan; file?: CalibrationFile }> {
  let plan: AgingPlan | undefined;
  const patch: Parameters<typeof updateCalibration>[1] = {};
  if (o.rtcAnalysis) {
    if (!o.rtc)
      throw new Error('no DS3231 to apply the RTC rate to (rtc.enabled, rtc.bus in the config; or --dry-run)');
    const f = o.rtcAnalysis.frequency;
    const before = (await o.rtc.aging()).lsb;
    plan = planAging(f.ppm, before);
    o.log(
      `DS3231 measured ${fmt(f.ppm)} ± ${Number(f.uncertaintyPpm.toPrecision(2))} ppm (1σ) over ${(f.spanSec / 3600).toFixed(2)} h (${o.recording.from} to ${o.recording.to})`,
    );
    o.log(
      `${o.dryRun ? 'would set' : 'setting'} the aging register ${before} -> ${plan.agingAfter} (${fmt(-(plan.agingAfter - before) * AGING_PPM_PER_LSB)} ppm), leaving ${fmt(plan.residualPpm)} ppm${plan.clamped ? ' (the register is at its limit: the crystal is further off than it can trim)' : ''}`,
    );
    if (!o.dryRun) await o.rtc.setAging(plan.agingAfter); // writes and forces a conversion: it takes effect now
    const t = o.rtcAnalysis.temperature;
    patch.ratePpm = Number(plan.residualPpm.toFixed(4));
    patch.rateUncertaintyPpm = Number(Math.max(f.uncertaintyPpm, TRIMMED_UNCERTAINTY_PPM).toFixed(4));
    patch.measuredAt = o.nowIso;
    patch.rtc = {
      measuredPpm: Number(f.ppm.toFixed(4)),
      measuredUncertaintyPpm: Number(f.uncertaintyPpm.toFixed(4)),
      agingBefore: before,
      agingAfter: plan.agingAfter,
      ...(t.kind !== 'none' ? { temperature: t } : {}),
      ...(o.dryRun ? {} : { appliedAt: o.nowIso }),
      recording: o.recording,
    };
  }
  if (o.systemAnalysis) {
    const s = o.systemAnalysis;
    patch.system = {
      ppm: Number(s.frequency.ppm.toFixed(4)),
      uncertaintyPpm: Number(s.frequency.uncertaintyPpm.toFixed(4)),
      ...(s.temperature.kind !== 'none' ? { temperature: s.temperature } : {}),
      measuredAt: o.nowIso,
    };
  }
  if (o.dryRun) {
    o.log(
      `--dry-run: nothing written; ${o.calibrationPath} would get rate ${fmt(patch.ratePpm ?? 0, 4)} ± ${(patch.rateUncertaintyPpm ?? 0).toFixed(4)} ppm, the trim and the temperature models`,
    );
    return { plan };
  }
  const previous = await readCalibration(o.calibrationPath);
  if (previous.file)
    await writeFileAtomic(`${o.calibrationPath}.previous`, JSON.stringify(previous.file, null, 2) + '\n');
  const file = await updateCalibration(o.calibrationPath, patch, o.log);
  o.log(
    `wrote ${o.calibrationPath}: the RTC rate ${fmt(file.ratePpm, 4)} ± ${file.rateUncertaintyPpm.toFixed(4)} ppm (what holdover uses from now)${o.systemAnalysis ? ", the system crystal's rate" : ''}, the trim and the recording it came from${file.setAt ? `; kept the last set on the second (${file.setAt})` : ''}${previous.file ? `; the previous file kept as ${o.calibrationPath}.previous` : ''}`,
  );
  return { plan, file };
}

/** Why this recording cannot judge the last apply, or undefined: it must be made after the trim. */
export function verifyRefusal(cal: CalibrationFile | undefined, rec: RecordingFingerprint): string | undefined {
  const applied = cal?.rtc?.appliedAt;
  const used = cal?.rtc?.recording;
  if (used && used.from === rec.from && used.to === rec.to && used.records === rec.records) {
    return `this is the recording calibrate apply used (${rec.from} to ${rec.to}): it cannot show the trim's effect; record again after the trim (${applied ?? 'the apply'})`;
  }
  if (applied && rec.from && Date.parse(rec.from) < Date.parse(applied)) {
    return `this recording starts at ${rec.from}, before the trim at ${applied}: record again after it (calibrate record --out NEW-FILE)`;
  }
  return undefined;
}

/** `calibrate verify`: how much better the RTC runs than before the last apply. */
export function verifySummary(cal: CalibrationFile | undefined, now: SubjectAnalysis): string {
  const f = now.frequency;
  if (!cal?.rtc)
    return `DS3231 now ${fmt(f.ppm)} ± ${f.uncertaintyPpm.toFixed(3)} ppm (no earlier calibrate apply to compare with)`;
  const before = cal.rtc.measuredPpm;
  const factor = Math.abs(before) / Math.max(Math.abs(f.ppm), f.uncertaintyPpm, 1e-4);
  const expected =
    Math.abs(f.ppm - cal.ratePpm) <= 3 * Math.hypot(f.uncertaintyPpm, cal.rateUncertaintyPpm)
      ? 'as the trim predicted'
      : `the trim predicted ${fmt(cal.ratePpm)} ppm: the temperature differs, or the chip ages`;
  return `DS3231 before ${fmt(before)} ppm, now ${fmt(f.ppm)} ± ${f.uncertaintyPpm.toFixed(3)} ppm (${expected}): ${factor >= 1 ? `${factor.toFixed(1)}x smaller` : 'not better (measure longer, or the temperature differs)'}; 3 h drift ${(Math.abs(before) * 10.8).toFixed(1)} ms -> ${(Math.abs(f.ppm) * 10.8).toFixed(2)} ms`;
}
