import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AGING_PPM_PER_LSB } from '../drivers/rtc/registers.js';
import type { RecordingFingerprint } from '../src/time/rtc-calibration.js';
import {
  analyse,
  localFrequencies,
  pairDrift,
  residualSeries,
  type NoiseRange,
  type PhasePoint,
  type SubjectAnalysis,
} from './analysis.js';
import { MAX_APPLY_UNCERTAINTY_PPM, MIN_APPLY_SPAN_SEC } from './apply.js';
import { fingerprint, readRecording, type Recording, type Reference, type Subject } from './recording.js';
import { allanChart, residualChart, temperatureChart, CAPTIONS } from './plots.js';
import { DESKTOP_WIDTH, esc, figure, page, PHONE_WIDTH, phoneName, table } from '../src/report/html.js';

/**
 * `jaudiosync calibrate report FILE...`: each device's subjects analysed, side by side, with the
 * relative drift between every pair of devices; a verdict per clock that says what to do; SVG plots
 * with captions tied together by an HTML page that reads on a phone. Files that differ only by a
 * rotation suffix (log, log.1, log.2) are one device.
 */

export interface DeviceReport {
  device: string;
  files: string[];
  reference?: string;
  records: number;
  problems: string[];
  subjects: Partial<
    Record<Subject, SubjectAnalysis & { series: { points: number; segments: number }; verdict: Verdict }>
  >;
  /** Its time range, size and whether simulated sources made it (header records). */
  recording: RecordingFingerprint & { simulatedSources?: Recording['simulated'] };
}

export interface PairFigure {
  subject: Subject;
  a: string;
  b: string;
  hours: number;
  supported: boolean;
  uncalibratedMs?: number;
  calibratedMs?: number;
}

export interface Report {
  devices: DeviceReport[];
  pairs: PairFigure[];
}

export const PAIR_HOURS = [1, 3];

export function groupByDevice(files: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const f of files) {
    const base = f.replace(/\.\d+$/, '');
    (groups.get(base) ?? groups.set(base, []).get(base)!).push(f);
  }
  // Oldest first: FILE.5 ... FILE.1, then FILE.
  for (const fs of groups.values()) fs.sort((x, y) => rot(y) - rot(x));
  return groups;
}
const rot = (f: string) => Number(/\.(\d+)$/.exec(f)?.[1] ?? 0);

export type SeriesByDevice = Map<string, Map<Subject, PhasePoint[]>>;

export async function buildReport(
  files: readonly string[],
  opts: { reference?: Reference; onBytes?: (n: number) => void } = {},
): Promise<{ report: Report; series: SeriesByDevice }> {
  const devices: DeviceReport[] = [];
  const series: SeriesByDevice = new Map();
  for (const [base, fs] of groupByDevice(files)) {
    const device = basename(base).replace(/\.(jsonl|log|json)$/, '');
    const rec = await readRecording(fs, opts.reference, opts.onBytes);
    const d: DeviceReport = {
      device,
      files: fs,
      reference: rec.reference,
      records: rec.records,
      problems: [...rec.problems],
      subjects: {},
      recording: { ...fingerprint(rec, fs), simulatedSources: rec.simulated },
    };
    for (const [subject, points] of rec.subjects) {
      if (points.length < 30) {
        d.problems.push(`${subject}: only ${points.length} points, too few to analyse`);
        continue;
      }
      const a = analyse(points);
      d.subjects[subject] = {
        ...a,
        series: { points: points.length, segments: countSegments(points) },
        verdict: verdict(subject, a),
      };
    }
    if (rec.subjects.size === 0)
      d.problems.push('no samples of a reference or RTC records in it: is this a drift log or a calibrate recording?');
    if (rec.simulated && Object.values(rec.simulated).some(Boolean))
      d.problems.push('made on SIMULATED sources (its header says so): the numbers describe twins, not this hardware');
    devices.push(d);
    series.set(device, rec.subjects);
  }
  const pairs: PairFigure[] = [];
  for (const subject of ['system', 'rtc'] as const) {
    const have = devices.filter((d) => d.subjects[subject]);
    for (let i = 0; i < have.length; i++) {
      for (let j = i + 1; j < have.length; j++) {
        for (const hours of PAIR_HOURS)
          pairs.push({
            subject,
            a: have[i]!.device,
            b: have[j]!.device,
            hours,
            ...pairDrift(have[i]!.subjects[subject]!, have[j]!.subjects[subject]!, hours),
          });
      }
    }
  }
  return { report: { devices, pairs }, series };
}

function countSegments(points: readonly PhasePoint[]): number {
  let k = 0;
  for (let i = 0; i < points.length; i++) if (i === 0 || points[i]!.segment !== points[i - 1]!.segment) k++;
  return k;
}

// ---- Verdicts ----

export interface Verdict {
  /** One line: rate, what drives it, what to do, what holdover to expect. */
  headline: string;
  /** Something the experimenter must know before acting (too short, simulated...). */
  warn: boolean;
}

const f = (v: number, d = 3) => (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(d);
/** An uncertainty with two significant digits (never "± 0.000"). */
export const unc = (v: number) => (v >= 0.01 ? v.toFixed(2) : Number(v.toPrecision(2)).toString());
export const ms = (v: number) =>
  v < 1 ? `${(v * 1000).toFixed(0)} µs` : v < 1000 ? `${v.toFixed(v < 10 ? 2 : 1)} ms` : `${(v / 1000).toFixed(1)} s`;
export const tau = (s: number) =>
  s < 60 ? `${Number(s.toPrecision(2))} s` : s < 3600 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`;
const NAMES: Record<Subject, string> = { system: 'System clock (local crystal)', rtc: 'DS3231 RTC' };

/** "white PM to 20 s, white FM 20 s–16 min": neighbouring decades with the same call merged. */
export function noiseSummary(ranges: readonly NoiseRange[]): string {
  const merged: NoiseRange[] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && last.noise === r.noise) merged[merged.length - 1] = { ...last, toTauSec: r.toTauSec };
    else merged.push({ ...r });
  }
  return merged.map((r) => `${r.noise} ${tau(r.fromTauSec)}–${tau(r.toTauSec)}`).join(', ');
}

function temperatureWords(a: SubjectAnalysis): string {
  const t = a.temperature;
  if (t.kind === 'none') return `no temperature model (${t.note})`;
  const share = a.temperatureShare ?? 0;
  const coef =
    t.kind === 'quadratic'
      ? `${f(t.c2PpmPerC2, 4)} ppm/°C² around ${t.refC.toFixed(1)} °C`
      : `${f(t.c1PpmPerC, 3)} ppm/°C`;
  return share >= 0.5
    ? `temperature-driven (${coef}; ${(share * 100).toFixed(0)} % of its wander)`
    : `temperature effect small (${coef}; ${(share * 100).toFixed(0)} % of its wander)`;
}

function trimWords(a: SubjectAnalysis): { text: string; ok: boolean } {
  const fr = a.frequency;
  if (fr.spanSec < MIN_APPLY_SPAN_SEC)
    return {
      text: `no trim yet: ${(fr.spanSec / 3600).toFixed(2)} h recorded, at least ${MIN_APPLY_SPAN_SEC / 3600} h needed`,
      ok: false,
    };
  if (!(fr.uncertaintyPpm <= MAX_APPLY_UNCERTAINTY_PPM))
    return {
      text: `no trim yet: rate known to ±${fr.uncertaintyPpm.toFixed(3)} ppm, a trim needs ±${MAX_APPLY_UNCERTAINTY_PPM.toFixed(3)} (record longer)`,
      ok: false,
    };
  const steps = Math.round(fr.ppm / AGING_PPM_PER_LSB);
  if (steps === 0) return { text: 'no trim needed (within half an aging step)', ok: true };
  return {
    text: `aging register ${steps > 0 ? '+' : '−'}${Math.abs(steps)} step${Math.abs(steps) > 1 ? 's' : ''} recommended (${steps > 0 ? 'slows' : 'speeds'} it by ${(Math.abs(steps) * AGING_PPM_PER_LSB).toFixed(1)} ppm: calibrate apply)`,
    ok: true,
  };
}

function holdoverWords(a: SubjectAnalysis): string {
  const h = a.holdover.find((x) => x.supported);
  if (!h) {
    const first = a.holdover[0];
    return first
      ? `holdover not predicted: ${(a.frequency.spanSec / 3600).toFixed(2)} h recorded, a ${first.hours} h prediction needs ${first.minRecordingHours} h unbroken`
      : '';
  }
  return `holdover after ${h.hours} h ≈ ${ms(h.calibratedMs!)} with this rate removed (${ms(h.uncalibratedMs!)} as it is)`;
}

export function verdict(subject: Subject, a: SubjectAnalysis): Verdict {
  const fr = a.frequency;
  const parts = [
    `${NAMES[subject]} ${f(fr.ppm, 2)} ± ${unc(fr.uncertaintyPpm)} ppm (${fr.ppm >= 0 ? 'fast' : 'slow'})`,
    temperatureWords(a),
  ];
  let warn = false;
  if (subject === 'rtc') {
    const t = trimWords(a);
    parts.push(t.text);
    warn = !t.ok;
  }
  const h = holdoverWords(a);
  if (h) parts.push(h);
  if (!a.holdover.some((x) => x.supported)) warn = true;
  return { headline: parts.join('; '), warn };
}

// ---- Text ----

export function formatReport(r: Report): string {
  const out: string[] = [];
  for (const d of r.devices) {
    out.push(`${d.device} (${d.files.join(', ')}; ${d.records} records, reference ${d.reference ?? 'none'})`);
    for (const p of d.problems) out.push(`  ! ${p}`);
    for (const [, a] of Object.entries(d.subjects) as Array<
      [Subject, NonNullable<DeviceReport['subjects'][Subject]>]
    >) {
      const hours = a.frequency.spanSec / 3600;
      out.push(`  ${a.verdict.warn ? '!' : '='} ${a.verdict.headline}`);
      out.push(
        `    rate: ${f(a.frequency.ppm)} ppm ± ${unc(a.frequency.uncertaintyPpm)} (1σ) over ${hours.toFixed(2)} h, ${a.series.points} points in ${a.series.segments} segment${a.series.segments > 1 ? 's' : ''}`,
      );
      const t = a.temperature;
      out.push(
        `    temperature: ${t.kind === 'none' ? `no model: ${t.note}` : `${t.minC.toFixed(1)}-${t.maxC.toFixed(1)} °C, ${t.kind}: ${f(t.c1PpmPerC, 4)} ppm/°C${t.kind === 'quadratic' ? ` ${f(t.c2PpmPerC2, 5)} ppm/°C²` : ''} around ${t.refC.toFixed(1)} °C (${t.note})`}`,
      );
      if (a.allan.length) {
        const pick = a.allan.filter((_, i) => i % 5 === 0 || i === a.allan.length - 1);
        out.push(`    Allan deviation: ${pick.map((p) => `${tau(p.tauSec)} ${p.adev.toExponential(1)}`).join(', ')}`);
        if (a.noiseRanges.length)
          out.push(
            `    noise${a.allanCorrected ? ' (temperature model taken out)' : ''}: ${noiseSummary(a.noiseRanges)}`,
          );
      }
      out.push(
        `    holdover: ${a.holdover.map((h) => (h.supported ? `after ${h.hours} h ${ms(h.uncalibratedMs!)} as it is, ${ms(h.calibratedMs!)} with this rate removed` : `after ${h.hours} h not predicted (needs ${h.minRecordingHours} h unbroken)`)).join('; ')}`,
      );
    }
  }
  if (r.pairs.length) {
    out.push('between devices (how far apart two clocks drift):');
    for (const p of r.pairs)
      out.push(
        `  ${p.subject} ${p.a} vs ${p.b} after ${p.hours} h: ${p.supported ? `${ms(p.uncalibratedMs!)} uncalibrated, ${ms(p.calibratedMs!)} calibrated` : 'not predicted (a recording too short)'}`,
      );
  }
  return out.join('\n') + '\n';
}

// ---- Plots and the page ----

/** Writes the plots and an index.html; returns the files written. */
export async function writeSvgs(dir: string, r: Report, series: SeriesByDevice): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const put = async (name: string, text: string) => {
    await writeFile(join(dir, name), text);
    written.push(name);
  };
  const sections: string[] = [];
  for (const subject of ['system', 'rtc'] as const) {
    const devs = r.devices.filter((d) => d.subjects[subject]);
    if (!devs.length) continue;
    const input = devs.map((d) => ({
      device: d.device,
      analysis: d.subjects[subject]!,
      points: series.get(d.device)?.get(subject) ?? [],
    }));
    const figs: string[] = [];
    const residual = input.map((x) => ({ ...x, residual: residualSeries(x.points, x.analysis) }));
    const local = input.map((x) => ({ ...x, local: localFrequencies(x.points) }));
    const both = async (name: string, draw: (width: number) => string) => {
      await put(name, draw(DESKTOP_WIDTH));
      await put(phoneName(name), draw(PHONE_WIDTH));
    };
    await both(`${subject}-residual.svg`, (w) => residualChart(subject, residual, w));
    figs.push(
      figure(
        `${subject}-residual.svg`,
        `${subject}: residual after the rate and temperature model`,
        esc(CAPTIONS.residual),
      ),
    );
    await both(`${subject}-temperature.svg`, (w) => temperatureChart(subject, local, w));
    figs.push(
      figure(`${subject}-temperature.svg`, `${subject}: frequency against temperature`, esc(CAPTIONS.temperature)),
    );
    await both(`${subject}-allan.svg`, (w) => allanChart(subject, input, w));
    figs.push(
      figure(
        `${subject}-allan.svg`,
        `${subject}: Allan deviation`,
        esc(CAPTIONS.allan(input.some((x) => x.analysis.allanCorrected))),
      ),
    );
    sections.push(`<h2>${esc(NAMES[subject])}</h2>\n${figs.join('\n')}`);
  }
  await put('index.html', page('jaudiosync drift report', htmlBody(r, sections)));
  return written;
}

function htmlBody(r: Report, sections: string[]): string {
  const verdicts = r.devices.map((d) => {
    const rows = (Object.entries(d.subjects) as Array<[Subject, NonNullable<DeviceReport['subjects'][Subject]>]>).map(
      ([, a]) => `<p class="verdict${a.verdict.warn ? ' warn' : ''}">${esc(a.verdict.headline)}</p>`,
    );
    const probs = d.problems.length ? `<ul>${d.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>` : '';
    return `<h3>${esc(d.device)}</h3><p class="muted">${esc(d.recording.from)} to ${esc(d.recording.to)}, ${d.records} records, reference ${esc(d.reference ?? 'none')}; ${esc(d.files.join(', '))}</p>${rows.join('\n')}${probs}`;
  });
  const pairs = r.pairs.length
    ? `<h2>Between devices</h2><p class="muted">How far apart two clocks drift when neither is corrected (uncalibrated) and when each runs on its measured rate (calibrated); about 95 % bounds.</p>${table(
        ['clock', 'devices', 'after', 'uncalibrated', 'calibrated'],
        r.pairs.map((p) => [
          p.subject,
          `${p.a} vs ${p.b}`,
          `${p.hours} h`,
          p.supported ? ms(p.uncalibratedMs!) : 'recording too short',
          p.supported ? ms(p.calibratedMs!) : '—',
        ]),
      )}`
    : '';
  return `<h1>Drift report</h1>\n<h2>Verdict</h2>\n${verdicts.join('\n')}\n${sections.join('\n')}\n${pairs}\n<h2>Everything, as text</h2><pre>${esc(formatReport(r))}</pre>`;
}
