// NMEA parse throughput over the real captures (parser + fix gate, as the driver runs them), and the
// CPU an hour of a 10-sentence/s receiver costs. Run: node --import tsx bench/nmea.ts
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { FixGate, parseNmeaLine } from '../drivers/gps/nmea.js';
import { PACKAGE_DIR } from '../src/service/config.js';

const dir = join(PACKAGE_DIR, 'test', 'fixtures', 'nmea', 'gpsd');
const lines = readdirSync(dir)
  .filter((f) => f.endsWith('.log'))
  .flatMap((f) =>
    readFileSync(join(dir, f), 'latin1')
      .split('\n')
      .filter((l) => l && !l.startsWith('#')),
  );
const ROUNDS = 40;
console.log(
  `nmea bench: ${lines.length} lines from ${dir}, ${ROUNDS} rounds, node ${process.version}, ${cpus()[0]?.model} x${cpus().length}`,
);
let sink = 0;
const run = () => {
  const gate = new FixGate();
  for (const l of lines) {
    const r = gate.pass(parseNmeaLine(l, 0n));
    if (r.kind === 'fix' && r.fix.valid) sink++;
  }
};
for (let i = 0; i < 5; i++) run(); // warm-up: JIT
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (let i = 0; i < ROUNDS; i++) run();
const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const perSec = (lines.length * ROUNDS) / wallS;
const cpuPerSentenceUs = (cpu.user + cpu.system) / (lines.length * ROUNDS);
console.log(
  `throughput: ${Math.round(perSec).toLocaleString('en')} sentences/s (${(1e6 / perSec).toFixed(2)} µs each), ${sink} valid fixes seen`,
);
console.log(
  `CPU per hour at 10 sentences/s (parsing only): ${((cpuPerSentenceUs * 36_000) / 1e6).toFixed(3)} s = ${(((cpuPerSentenceUs * 36_000) / 1e6 / 3600) * 100).toFixed(4)} % of one core`,
);
