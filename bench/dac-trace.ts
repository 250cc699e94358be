// The two players of each real-path run, side by side, from their DAC clocks' traces: where each
// one's line put the device's periods at the placement, with what rate, and how the two lines moved
// apart afterwards. Both players write to one JACK server, so a period has one true phase: a
// difference between their lines is an error of one or both (the start error's difference, within a
// sample or so), and a line whose phase drifts steadily has the wrong rate.
//
//   JAUDIOSYNC_TRACE_ALIGN=1 node --import tsx bench/start-error.ts --runs 5 --keep DIR
//   node --import tsx bench/dac-trace.ts DIR
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fitLine } from '../src/time/regress.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: dac-trace.ts DIR (the --keep folder of a start-error.ts run with JAUDIOSYNC_TRACE_ALIGN=1)');
  process.exit(2);
}
const PERIOD_US = (1024 / 48_000) * 1e6; // the bench's period

interface DacLine {
  monoNs: number;
  phaseUs: number;
  ppm: number;
  sigmaPpm: number;
}

/** A player's DAC trace lines, and the index of the last one before its first placement. */
function readTrace(path: string): { lines: DacLine[]; atPlacement?: DacLine } {
  const lines: DacLine[] = [];
  let atPlacement: DacLine | undefined;
  const re = /^trace dac p \d+ mono (\d+) phase ([\d.]+) late [-\d.]+ ppm ([-\d.]+) sigma ([\d.]+)/;
  for (const l of readFileSync(path, 'utf8').split('\n')) {
    const m = re.exec(l);
    if (m) lines.push({ monoNs: Number(m[1]), phaseUs: Number(m[2]), ppm: Number(m[3]), sigmaPpm: Number(m[4]) });
    else if (!atPlacement && /^trace p .* placed/.test(l)) atPlacement = lines.at(-1);
  }
  return { lines, ...(atPlacement ? { atPlacement } : {}) };
}

/** a − b as phases of one period: the nearest representative. */
const phaseDiff = (a: number, b: number) => ((((a - b) % PERIOD_US) + 1.5 * PERIOD_US) % PERIOD_US) - PERIOD_US / 2;

/** Phase drift (µs/s) over a trace from `fromNs` on: the slope of a least-squares line. */
function driftUsPerSec(lines: DacLine[], fromNs: number): number {
  const xs = lines.filter((l) => l.monoNs >= fromNs);
  if (xs.length < 3) return NaN;
  return fitLine(
    xs.map((l) => (l.monoNs - fromNs) / 1e9),
    xs.map((l) => phaseDiff(l.phaseUs, xs[0]!.phaseUs)),
  ).b;
}

const runs = [...new Set(readdirSync(dir).flatMap((f) => /^run(\d+)-player[12]\.log$/.exec(f)?.[1] ?? []))].sort(
  (a, b) => Number(a) - Number(b),
);
console.log(`${dir}: ${runs.length} run(s); phases of the ${PERIOD_US.toFixed(2)} µs period in CLOCK_MONOTONIC`);
for (const r of runs) {
  const [p1, p2] = [1, 2].map((k) => readTrace(join(dir, `run${r}-player${k}.log`)));
  const a = p1!.atPlacement,
    b = p2!.atPlacement;
  if (!a || !b) {
    console.log(`run ${r}: no placement traced (was JAUDIOSYNC_TRACE_ALIGN=1 set?)`);
    continue;
  }
  const from = Math.max(a.monoNs, b.monoNs);
  const d1 = driftUsPerSec(p1!.lines, from),
    d2 = driftUsPerSec(p2!.lines, from);
  console.log(
    `run ${r}: at placement the lines ${phaseDiff(a.phaseUs, b.phaseUs).toFixed(1)} µs apart; rates ${a.ppm.toFixed(2)} ± ${a.sigmaPpm.toFixed(2)} and ${b.ppm.toFixed(2)} ± ${b.sigmaPpm.toFixed(2)} ppm; after it the lines' phases drift ${d1.toFixed(2)} and ${d2.toFixed(2)} µs/s (apart ${(d1 - d2).toFixed(2)} µs/s)`,
  );
}
