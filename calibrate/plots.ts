import { chart, COLORS, timeUnitFor, type Guide, type Series } from '../src/report/svg.js';
import type { PhasePoint, SubjectAnalysis } from './analysis.js';
import type { Subject } from './recording.js';

/** The calibrate report's three plots per clock, and the captions that say how to read them. Pure. */

const LABEL: Record<Subject, string> = { system: 'system clock', rtc: 'DS3231' };

export const CAPTIONS = {
  residual:
    "What is left of each clock's time offset after its measured rate — and its temperature model, where the report found one — is taken out. " +
    'Holdover on this calibration meets exactly this wander: read how far the line moves over the hours you will be without GPS. ' +
    'A steady slope means the rate changed (aging, or a temperature outside the range measured); a break in the line is a new segment (a restart, or the clock was set).',
  temperature:
    "Each dot is the clock's frequency over 10 minutes against its temperature then; the line is the fitted model. " +
    'Dots on the line: the clock is temperature-driven and the model predicts it. A cloud around a flat line: temperature explains little; the noise dominates.',
  allan: (corrected: boolean) =>
    'Overlapping Allan deviation σ_y(τ): how much the frequency, averaged over τ, changes from one τ to the next. ' +
    'Lower is more stable; multiply by τ for the time error it makes over τ. ' +
    (corrected
      ? "Solid: as recorded; dashed: with the temperature model taken out (the clock's own noise, which the noise type is read from). "
      : '') +
    'Error bars: 68 % confidence intervals from χ² with the simple equivalent degrees of freedom of NIST SP 1065 for the noise type at that τ (few terms at long τ: wide bars). ' +
    'Grey guides show the slope of each noise type (as Stable32 and allantools read them): τ^−1 white or flicker PM, τ^−1/2 white FM, τ^0 flicker FM, τ^+1/2 random-walk FM, τ^+1 drift; where the curve runs parallel to one, that noise dominates.',
};

interface Input {
  device: string;
  analysis: SubjectAnalysis;
  points: readonly PhasePoint[];
}

const ppm = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(2)} ppm`;

/** A NaN between segments breaks the line there. */
function withBreaks(points: readonly PhasePoint[], y: (p: PhasePoint) => number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (i > 0 && points[i - 1]!.segment !== p.segment) out.push([p.tSec / 3600, NaN]);
    out.push([p.tSec / 3600, y(p)]);
  }
  return out;
}

export function residualChart(
  subject: Subject,
  input: ReadonlyArray<Input & { residual: readonly PhasePoint[] }>,
  width?: number,
): string {
  let maxUs = 0;
  for (const x of input) for (const p of x.residual) if (Math.abs(p.xNs) / 1e3 > maxUs) maxUs = Math.abs(p.xNs) / 1e3;
  const u = timeUnitFor(maxUs);
  const series: Series[] = input.map((x) => ({
    label: `${x.device} (${ppm(x.analysis.frequency.ppm)}${x.analysis.temperature.kind !== 'none' ? ', temperature model' : ''} removed)`,
    points: withBreaks(x.residual, (p) => (p.xNs / 1e3) * u.perUs),
  }));
  return chart(series, {
    title: `${LABEL[subject]}: time offset left after the rate and temperature model`,
    xLabel: 'hours into the recording',
    yLabel: `residual (${u.unit})`,
    width,
  });
}

export function temperatureChart(
  subject: Subject,
  input: ReadonlyArray<Input & { local: ReadonlyArray<{ ppm: number; tempC: number }> }>,
  width?: number,
): string {
  const series: Series[] = [];
  input.forEach((x, k) => {
    const color = COLORS[k % COLORS.length];
    series.push({
      label: `${x.device}: 10-minute windows`,
      style: 'dots',
      points: x.local.map((l) => [l.tempC, l.ppm] as const),
      color,
    });
    const t = x.analysis.temperature;
    if (t.kind !== 'none') {
      const curve: Array<[number, number]> = [];
      for (let i = 0; i <= 40; i++) {
        const c = t.minC + ((t.maxC - t.minC) * i) / 40;
        curve.push([c, t.c0 + t.c1PpmPerC * (c - t.refC) + t.c2PpmPerC2 * (c - t.refC) ** 2]);
      }
      series.push({ label: `${x.device}: ${t.kind} model`, points: curve, dashed: true, color });
    }
  });
  return chart(series, {
    title: `${LABEL[subject]}: frequency against temperature`,
    xLabel: 'temperature (°C)',
    yLabel: 'frequency (ppm, + = fast)',
    width,
  });
}

export function allanChart(subject: Subject, input: readonly Input[], width?: number): string {
  const series: Series[] = [];
  for (const x of input) {
    const a = x.analysis;
    series.push({
      label: `${x.device}${a.allanCorrected ? ' as recorded' : ''}`,
      points: a.allan.map((p) => [p.tauSec, p.adev] as const),
      errorBars: a.allan.filter((p) => p.lo !== undefined).map((p) => [p.tauSec, p.lo!, p.hi!] as const),
    });
    if (a.allanCorrected)
      series.push({
        label: `${x.device} temperature model out${a.noise ? ` (${a.noise} at long τ)` : ''}`,
        dashed: true,
        points: a.allanCorrected.map((p) => [p.tauSec, p.adev] as const),
        errorBars: a.allanCorrected.filter((p) => p.lo !== undefined).map((p) => [p.tauSec, p.lo!, p.hi!] as const),
      });
  }
  // Same colour for a device's two curves.
  let k = -1;
  for (const s of series) {
    if (!s.dashed) k++;
    s.color = COLORS[k % COLORS.length];
  }
  const first = input[0]?.analysis.allan[0];
  const guides: Guide[] = first
    ? [
        [-1, 'τ^−1 PM'],
        [-0.5, 'τ^−1/2 white FM'],
        [0, 'τ^0 flicker FM'],
        [0.5, 'τ^+1/2 RW FM'],
        [1, 'τ^+1 drift'],
      ].map(([slope, label]) => ({
        slope: slope as number,
        label: label as string,
        through: [first.tauSec, first.adev] as const,
      }))
    : [];
  return chart(series, {
    title: `${LABEL[subject]}: overlapping Allan deviation`,
    xLabel: 'averaging time τ (s)',
    yLabel: 'σ_y(τ)',
    log: true,
    guides,
    width,
  });
}
