import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { analyse, localFrequencies, pairDrift, type SubjectAnalysis } from './analysis.js';
import { fingerprint, readRecording, type Recording, type Reference, type Subject } from './recording.js';
import type { RecordingFingerprint } from '../src/time/rtc-calibration.js';
import { chart } from './svg.js';

/**
 * `jaudiosync calibrate report FILE...`: each device's subjects analysed, side by side, with the
 * relative drift between every pair of devices, and SVG plots tied together by an HTML page.
 * Files that differ only by a rotation suffix (log, log.1, log.2) are one device.
 */

export interface DeviceReport {
  device: string;
  files: string[];
  reference?: string;
  records: number;
  problems: string[];
  subjects: Partial<Record<Subject, SubjectAnalysis & { series: { points: number; segments: number } }>>;
  /** Its time range, size and whether simulated sources made it (header records). */
  recording: RecordingFingerprint & { simulatedSources?: Recording['simulated'] };
}

export interface Report {
  devices: DeviceReport[];
  pairs: Array<{ subject: Subject; a: string; b: string; hours: number; uncalibratedMs: number; calibratedMs: number }>;
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

export async function buildReport(files: readonly string[], opts: { reference?: Reference; keepSeries?: boolean } = {}): Promise<{ report: Report; series: Map<string, Map<Subject, import('./analysis.js').PhasePoint[]>> }> {
  const devices: DeviceReport[] = [];
  const series = new Map<string, Map<Subject, import('./analysis.js').PhasePoint[]>>();
  for (const [base, fs] of groupByDevice(files)) {
    const device = basename(base).replace(/\.(jsonl|log|json)$/, '');
    const rec = await readRecording(fs, opts.reference);
    const d: DeviceReport = { device, files: fs, reference: rec.reference, records: rec.records, problems: [...rec.problems], subjects: {}, recording: { ...fingerprint(rec, fs), simulatedSources: rec.simulated } };
    for (const [subject, points] of rec.subjects) {
      if (points.length < 30) { d.problems.push(`${subject}: only ${points.length} points, too few to analyse`); continue; }
      d.subjects[subject] = { ...analyse(points), series: { points: points.length, segments: new Set(points.map((p) => p.segment)).size } };
    }
    if (rec.subjects.size === 0) d.problems.push('no samples of a reference or RTC records in it: is this a drift log or a calibrate recording?');
    devices.push(d);
    series.set(device, rec.subjects);
  }
  const pairs: Report['pairs'] = [];
  for (const subject of ['system', 'rtc'] as const) {
    const have = devices.filter((d) => d.subjects[subject]);
    for (let i = 0; i < have.length; i++) {
      for (let j = i + 1; j < have.length; j++) {
        for (const hours of PAIR_HOURS) pairs.push({ subject, a: have[i]!.device, b: have[j]!.device, hours, ...pairDrift(have[i]!.subjects[subject]!, have[j]!.subjects[subject]!, hours) });
      }
    }
  }
  return { report: { devices, pairs }, series };
}

const f = (v: number, d = 3) => (v >= 0 ? '+' : '') + v.toFixed(d);

export function formatReport(r: Report): string {
  const out: string[] = [];
  for (const d of r.devices) {
    out.push(`${d.device} (${d.files.join(', ')}; ${d.records} records, reference ${d.reference ?? 'none'})`);
    for (const p of d.problems) out.push(`  ! ${p}`);
    for (const [subject, a] of Object.entries(d.subjects)) {
      if (!a) continue;
      const hours = a.frequency.spanSec / 3600;
      out.push(`  ${subject === 'system' ? 'system clock (local crystal)' : 'DS3231 RTC'}: ${f(a.frequency.ppm)} ppm ± ${a.frequency.uncertaintyPpm.toFixed(3)} (1σ) over ${hours.toFixed(2)} h, ${a.series.points} points in ${a.series.segments} segment${a.series.segments > 1 ? 's' : ''}`);
      const t = a.temperature;
      out.push(`    temperature: ${t.kind === 'none' ? `no model: ${t.note}` : `${t.minC.toFixed(1)}-${t.maxC.toFixed(1)} °C, ${t.kind}: ${f(t.c1PpmPerC, 4)} ppm/°C${t.kind === 'quadratic' ? ` ${f(t.c2PpmPerC2, 5)} ppm/°C²` : ''} around ${t.refC.toFixed(1)} °C (${t.note})`}`);
      if (a.allan.length) {
        const pick = a.allan.filter((_, i) => i % 5 === 0 || i === a.allan.length - 1);
        out.push(`    Allan deviation: ${pick.map((p) => `${tau(p.tauSec)} ${p.adev.toExponential(1)}`).join(', ')}${a.noise ? `; dominant at long τ: ${a.noise} (slope ${a.allanSlope!.toFixed(2)})` : ''}`);
      }
      out.push(`    holdover: ${a.holdover.map((h) => `after ${h.hours} h ${ms(h.uncalibratedMs)} as it is, ${ms(h.calibratedMs)} with this rate removed`).join('; ')}`);
    }
  }
  if (r.pairs.length) {
    out.push('between devices (how far apart two clocks drift):');
    for (const p of r.pairs) out.push(`  ${p.subject} ${p.a} vs ${p.b} after ${p.hours} h: ${ms(p.uncalibratedMs)} uncalibrated, ${ms(p.calibratedMs)} calibrated`);
  }
  return out.join('\n') + '\n';
}

const tau = (s: number) => (s < 60 ? `${s} s` : s < 3600 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`);
const ms = (v: number) => (v < 1 ? `${(v * 1000).toFixed(0)} µs` : `${v.toFixed(1)} ms`);

/** Writes the plots and an index.html; returns the files written. */
export async function writeSvgs(dir: string, r: Report, series: Map<string, Map<Subject, import('./analysis.js').PhasePoint[]>>): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const put = async (name: string, svg: string) => { await writeFile(join(dir, name), svg); written.push(name); };
  const subjects = ['system', 'rtc'] as const;
  for (const subject of subjects) {
    const devs = r.devices.filter((d) => d.subjects[subject]);
    if (!devs.length) continue;
    const label = subject === 'system' ? 'system clock' : 'DS3231';
    await put(`${subject}-offset.svg`, chart(devs.map((d) => ({
      label: `${d.device} (${f(d.subjects[subject]!.frequency.ppm, 2)} ppm)`,
      points: (series.get(d.device)?.get(subject) ?? []).map((p) => [p.tSec / 3600, p.xNs / 1e6] as [number, number]),
    })), { title: `${label}: offset against the reference`, xLabel: 'hours', yLabel: 'offset (ms)' }));
    await put(`${subject}-temperature.svg`, chart(devs.map((d) => ({
      label: d.device, style: 'dots' as const,
      points: localFrequencies(series.get(d.device)?.get(subject) ?? []).map((l) => [l.tempC, l.ppm] as [number, number]),
    })), { title: `${label}: frequency against temperature (10-minute windows)`, xLabel: '°C', yLabel: 'ppm' }));
    await put(`${subject}-allan.svg`, chart(devs.map((d) => ({
      label: `${d.device}${d.subjects[subject]!.noise ? ` (${d.subjects[subject]!.noise})` : ''}`,
      points: d.subjects[subject]!.allan.map((a) => [a.tauSec, a.adev] as [number, number]),
    })), { title: `${label}: overlapping Allan deviation`, xLabel: 'τ (s)', yLabel: 'σ_y(τ)', log: true }));
  }
  const html = `<!doctype html><meta charset="utf-8"><title>jaudiosync drift report</title>
<style>body{font-family:sans-serif;max-width:760px;margin:2em auto}pre{background:#f6f6f6;padding:1em;overflow:auto}</style>
<h1>Drift report</h1><pre>${formatReport(r).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</pre>
${written.map((w) => `<p><img src="${w}" alt="${w}"></p>`).join('\n')}
`;
  await writeFile(join(dir, 'index.html'), html);
  written.push('index.html');
  return written;
}
