// Fleet control, end to end (issue 15): three `jaudiosync run` processes (simulated hardware, WAV
// output) behind a real mosquitto; the operator's CLI sends volume commands one after another with
// --wait. For each command: the time from sending to every device's confirmation (what --wait
// measures), and the UTC at which each device's WAV shows the new level: their spread across the
// devices and their lateness after the command's instant. Truth is this machine's clock, which the
// simulated GPS of every device shares.
// Run: node --import tsx bench/fleet-sync.ts [--commands N]
import { cpus, loadavg } from 'node:os';
import {
  firstWhere,
  frameAt,
  level,
  near,
  played,
  sentAt,
  startAll,
  stopRun,
  TRACK_SEC,
  untilUtc,
  utcOf,
  world,
} from '../test/helpers/fleet-world.js';

const COMMANDS = Number(process.argv[process.argv.indexOf('--commands') + 1]) || 10;
/** Each command's lead (fleet.lead_ms in the world) plus the --wait: about 4 s per command. */
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

console.log(
  `fleet-sync bench: 3 devices, ${COMMANDS} volume commands; ${cpus()[0]?.model} x${cpus().length}, load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
const w = await world(40);
try {
  await startAll((m) => {
    throw new Error(m);
  }, w);
  const sent: Array<{ atNs: bigint; db: number; confirmMs: number }> = [];
  for (let i = 0; i < COMMANDS; i++) {
    const db = i % 2 ? 0 : -6;
    const t0 = Date.now();
    const r = await w.cli(['volume', String(db), '--ramp-ms', '0', '--wait']);
    if (r.code !== 0) throw new Error(`volume ${db}: ${r.stdout}${r.stderr}`);
    sent.push({ atNs: sentAt(r.stdout), db, confirmMs: Date.now() - t0 });
    await untilUtc(sent.at(-1)!.atNs + 500_000_000n);
  }
  await untilUtc(sent.at(-1)!.atNs + 2_000_000_000n);
  for (const d of w.devs) await stopRun(d);
  const ps = w.devs.map(played);
  const spreads: number[] = [],
    lates: number[] = [];
  for (const c of sent) {
    // The level of the track playing at the instant (tracks of TRACK_SEC, none skipped), searched
    // from 0.1 s before it: the commands alternate levels and are over 0.5 s apart.
    const track = Math.floor(Number(c.atNs - w.startUtcNs) / 1e9 / TRACK_SEC);
    const utcs = ps.map((p) => {
      const f = firstWhere(p, frameAt(p, c.atNs) - 4_800, (r) => near(r, level(track, c.db)));
      if (f === undefined) throw new Error(`volume ${c.db} dB at ${c.atNs}: the new level never shows in a WAV`);
      return utcOf(p, f);
    });
    const offs = utcs.map((u) => Number(u - c.atNs) / 1e3);
    spreads.push(Math.max(...offs) - Math.min(...offs));
    lates.push(...offs);
  }
  const confirm = sent.map((c) => c.confirmMs);
  console.log(
    `  send to confirmed by all 3 (CLI --wait, includes the command's lead until its instant): p50 ${quantile(confirm, 0.5)} ms, max ${Math.max(...confirm)} ms`,
  );
  console.log(
    `  effect after the command's instant, every device: p50 ${quantile(lates, 0.5).toFixed(1)} µs, max ${Math.max(...lates).toFixed(1)} µs`,
  );
  console.log(
    `  spread of the effect across the 3 devices: p50 ${quantile(spreads, 0.5).toFixed(1)} µs, p99 ${quantile(spreads, 0.99).toFixed(1)} µs, max ${Math.max(...spreads).toFixed(1)} µs (one sample: 20.8 µs)`,
  );
} finally {
  await w.close();
}
