// Fleet control figures (issue 15), on loopback with a real mosquitto:
//  - command-to-confirmation: an operator publishes a signed command; the time until all three
//    devices' status lists it (each device: accepted, persisted atomically, status republished);
//  - signature verifications per second (Ed25519, node:crypto) and whole envelopes checked per second;
//  - RSS and CPU of a device's fleet layer: idle (connected, status every 2 s) and in a flood of
//    10 000 envelopes, against the same process with fleet control off;
//  - the spread in UTC of the frame where a command took effect is bench/fleet-sync.ts's (three
//    `jaudiosync run` processes).
// The devices are test/helpers/fleet-device.ts processes (each one's fleet layer, no playback).
// Run: nice -n 10 node --import tsx bench/fleet.ts [--commands N]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { PACKAGE_DIR } from '../src/service/config.js';
import { parseEnvelope, rideIdOf } from '../src/fleet/command.js';
import { FleetCore } from '../src/fleet/core.js';
import { generateOperatorKey, keyTable, verifyBytes } from '../src/fleet/keys.js';
import { signCommand } from '../src/fleet/sign.js';
import type { FleetStatusMessage } from '../src/fleet/topics.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';

const COMMANDS = Number(process.argv[process.argv.indexOf('--commands') + 1]) || 60;
const FLEET = 'bench';
const DEVICES = ['d1', 'd2', 'd3'];
const CLK_TCK = 100;

function proc(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)![1]), ticks: Number(stat[11]) + Number(stat[12]) };
}
/** A harness's snapshot line (SIGUSR2); it also resets its event-loop delay histogram. */
function snapshot(
  c: ReturnType<typeof spawn>,
): Promise<{ loopDelayMaxMs: number; snapshot: { longestSliceMs: number } }> {
  return new Promise((resolve) => {
    const on = (d: Buffer) => {
      for (const l of d.toString().split('\n'))
        if (l.includes('"snapshot"')) {
          c.stdout!.off('data', on);
          resolve(JSON.parse(l) as { loopDelayMaxMs: number; snapshot: { longestSliceMs: number } });
          return;
        }
    };
    c.stdout!.on('data', on);
    c.kill('SIGUSR2');
  });
}
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

console.log(
  `fleet bench: ${cpus()[0]?.model} x${cpus().length}, Node ${process.version}, load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);

// 1. Verification rates, in this process.
{
  const key = generateOperatorKey('k', 'admin').key;
  const keys = keyTable([{ id: 'k', role: 'admin', public_key: key.publicKeyBase64 }]);
  const now = BigInt(Date.now()) * 1_000_000n;
  const envs = Array.from(
    { length: 2000 },
    (_, i) =>
      signCommand(
        {
          fleet: FLEET,
          ride: rideIdOf(now),
          op: 'volume',
          args: { db: -(i % 40), rampMs: 0 },
          atUtcNs: now + 5_000_000_000n,
          issuedUtcNs: now - BigInt(i) * 1_000_000_000n,
        },
        key,
      ).envelope,
  );
  const parsed = envs.map((e) => parseEnvelope(e)).map((p) => (p.ok ? p.value : undefined)!);
  // Per second of wall time and per second of this process's CPU time (on a shared machine the
  // second is the property of the code, the first of the machine's load).
  const cpuSec = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
  let n = 0;
  const t0 = process.hrtime.bigint(),
    c0 = process.cpuUsage();
  while (process.hrtime.bigint() - t0 < 2_000_000_000n) {
    const p = parsed[n++ % parsed.length]!;
    verifyBytes(p.bytes, p.signature, keys.get('k')!.key);
  }
  const verifyPerSec = n / (Number(process.hrtime.bigint() - t0) / 1e9);
  const verifyPerCpuSec = n / cpuSec(process.cpuUsage(c0));
  // Whole envelopes (size, JSON, schema, role, signature, rate, fold), each distinct: a fresh core per 25.
  let m = 0;
  const t1 = process.hrtime.bigint(),
    c1 = process.cpuUsage();
  while (process.hrtime.bigint() - t1 < 2_000_000_000n) {
    const core = new FleetCore({ fleet: FLEET, device: 'd1', keys, utcNowNs: () => now, rideId: () => rideIdOf(now) });
    for (let i = 0; i < 25; i++) core.ingest(envs[m++ % envs.length]!, 'cmd');
  }
  const envPerSec = m / (Number(process.hrtime.bigint() - t1) / 1e9);
  const envPerCpuSec = m / cpuSec(process.cpuUsage(c1));
  console.log(
    `signature verifications: ${verifyPerCpuSec.toFixed(0)} per CPU second (${verifyPerSec.toFixed(0)}/s of wall time at load ${loadavg()[0]!.toFixed(1)}); whole envelopes checked and folded: ${envPerCpuSec.toFixed(0)} per CPU second (${envPerSec.toFixed(0)}/s wall)`,
  );
}

// 2. Three device processes on a real mosquitto.
const dir = mkdtempSync(join(tmpdir(), 'jas-fleet-bench-'));
const users = Object.fromEntries(['op', ...DEVICES].map((u) => [u, `pw-${u}-${Math.random().toString(36).slice(2)}`]));
const broker = await startMosquitto({
  fleet: FLEET,
  operators: [{ name: 'op', password: users.op! }],
  devices: DEVICES.map((d) => ({ name: d, password: users[d]! })),
  extra: ['max_queued_messages 20000'],
});
const keys = Array.from({ length: 4 }, (_, i) => generateOperatorKey(`op${i}`, 'admin').key);
const ride = rideIdOf((BigInt(Date.now()) / 1000n) * 1_000_000_000n);
const children: Array<ReturnType<typeof spawn>> = [];
let finished = false;
function startDevice(name: string, enabled: boolean) {
  writeFileSync(join(dir, `${name}.pw`), `${users[name] ?? 'x'}\n`);
  writeFileSync(
    join(dir, `${name}.toml`),
    [
      `[fleet]`,
      `enabled = ${enabled}`,
      `id = "${FLEET}"`,
      `device = "${name}"`,
      `brokers = ["${broker.url}"]`,
      `username = "${name}"`,
      `password_file = "${name}.pw"`,
      ...keys.flatMap((k) => [
        '[[fleet.keys]]',
        `id = "${k.id}"`,
        'role = "admin"',
        `public_key = "${k.publicKeyBase64}"`,
      ]),
    ].join('\n'),
  );
  mkdirSync(join(dir, `state-${name}`), { recursive: true });
  const c = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(PACKAGE_DIR, 'test/helpers/fleet-device.ts'),
      join(dir, `${name}.toml`),
      join(dir, `state-${name}`),
      ride,
    ],
    { cwd: PACKAGE_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(c);
  let err = '';
  c.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  c.on('exit', (code, sig) => {
    if (!finished) console.log(`device ${name} exited (${code ?? sig}):\n${err}`);
  });
  return new Promise<ReturnType<typeof spawn>>((resolve) =>
    c.stdout!.on('data', function ready(d: Buffer) {
      if (d.toString().includes('"ready"')) {
        c.stdout!.off('data', ready);
        c.stdout!.resume();
        resolve(c);
      }
    }),
  );
}
try {
  const devices = await Promise.all(DEVICES.map((d) => startDevice(d, true)));
  const off = await startDevice('off', false);
  const op = await mqtt.connectAsync(broker.url, {
    protocolVersion: 4,
    username: 'op',
    password: users.op,
    reconnectPeriod: 0,
  });
  const seen = new Map<string, Map<string, number>>(); // command id -> device -> ms
  op.on('message', (topic, payload) => {
    if (!payload.length) return;
    const s = JSON.parse(payload.toString()) as FleetStatusMessage;
    for (const r of s.commands.recent) {
      const m = seen.get(r.id);
      if (m && !m.has(s.device)) m.set(s.device, performance.now());
    }
  });
  await op.subscribeAsync(`jas/v1/${FLEET}/status/+`, { qos: 0 });
  await sleep(4000); // connected, plan settled

  // Command to confirmation (the rate limit allows 30 per key per 10 s: rotate 4 keys).
  const all: number[] = [],
    each: number[] = [];
  for (let i = 0; i < COMMANDS; i++) {
    const now = BigInt(Date.now()) * 1_000_000n;
    const { envelope, command } = signCommand(
      {
        fleet: FLEET,
        ride,
        op: 'volume',
        args: { db: -(i % 30), rampMs: 0 },
        atUtcNs: now + 3_000_000_000n,
        issuedUtcNs: now,
      },
      keys[i % keys.length]!,
    );
    seen.set(command.id, new Map());
    const t0 = performance.now();
    await op.publishAsync(`jas/v1/${FLEET}/cmd`, envelope, { qos: 1 });
    while (seen.get(command.id)!.size < DEVICES.length && performance.now() - t0 < 10_000) await sleep(2);
    const times = [...seen.get(command.id)!.values()].map((t) => t - t0);
    if (times.length === DEVICES.length) {
      all.push(Math.max(...times));
      each.push(...times);
    }
    await sleep(300);
  }
  console.log(
    `command to confirmation by all 3 devices (${all.length}/${COMMANDS} confirmed): p50 ${pct(all, 50).toFixed(1)} ms, p99 ${pct(all, 99).toFixed(1)} ms; per device p50 ${pct(each, 50).toFixed(1)} ms, p99 ${pct(each, 99).toFixed(1)} ms (load ${loadavg()[0]!.toFixed(1)})`,
  );

  // Idle: 30 s, fleet on (connected) vs off, same harness.
  await sleep(3000);
  const measure = async (pids: number[], seconds: number) => {
    const a = pids.map(proc),
      t0 = Date.now();
    let peak = a.map((x) => x.rssKb);
    const poll = setInterval(() => {
      peak = pids.map((p, i) => Math.max(peak[i]!, proc(p).rssKb));
    }, 200);
    await sleep(seconds * 1000);
    clearInterval(poll);
    const b = pids.map(proc),
      s = (Date.now() - t0) / 1000;
    return pids.map((_, i) => ({
      cpuPct: ((b[i]!.ticks - a[i]!.ticks) / CLK_TCK / s) * 100,
      rssMiB: b[i]!.rssKb / 1024,
      peakMiB: peak[i]! / 1024,
    }));
  };
  const idle = await measure([devices[0]!.pid!, off.pid!], 30);
  console.log(
    `idle 30 s: fleet on RSS ${idle[0]!.rssMiB.toFixed(1)} MiB, CPU ${idle[0]!.cpuPct.toFixed(2)} %; fleet off (same process, no fleet) RSS ${idle[1]!.rssMiB.toFixed(1)} MiB, CPU ${idle[1]!.cpuPct.toFixed(2)} %: added ${(idle[0]!.rssMiB - idle[1]!.rssMiB).toFixed(1)} MiB, ${(idle[0]!.cpuPct - idle[1]!.cpuPct).toFixed(2)} % (load ${loadavg()[0]!.toFixed(1)})`,
  );

  // Flood: 10 000 envelopes (forged signatures, garbage, genuine over the rate limit, replays).
  const forger = generateOperatorKey('op0', 'admin').key;
  const now = BigInt(Date.now()) * 1_000_000n;
  const flood: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const k = i % 4;
    if (k === 0)
      flood.push(
        signCommand(
          { fleet: FLEET, ride, op: 'stop', args: { fadeMs: 0 }, atUtcNs: now + 60_000_000_000n, issuedUtcNs: now },
          forger,
        ).envelope,
      );
    else if (k === 1)
      flood.push(`{"v":1,"cmd":"${Buffer.from(`junk ${i}`).toString('base64')}","sig":"${'A'.repeat(86)}=="}`);
    else if (k === 2)
      flood.push(
        signCommand(
          {
            fleet: FLEET,
            ride,
            op: 'volume',
            args: { db: -(i % 40), rampMs: 0 },
            atUtcNs: now + 60_000_000_000n,
            issuedUtcNs: now,
          },
          keys[1]!,
        ).envelope,
      );
    else flood.push(flood[0]!);
  }
  await snapshot(devices[0]!); // resets the event-loop delay histograms
  await snapshot(off);
  const pids = [devices[0]!.pid!];
  const before = proc(pids[0]!),
    t0 = Date.now();
  let peak = before.rssKb;
  const poll = setInterval(() => {
    peak = Math.max(peak, proc(pids[0]!).rssKb);
  }, 100);
  for (const e of flood) op.publish(`jas/v1/${FLEET}/cmd`, e, { qos: 1 });
  await op.publishAsync(`jas/v1/${FLEET}/cmd`, 'end', { qos: 1 });
  let judged = 0;
  const statusOf = (s: FleetStatusMessage) =>
    Object.values(s.commands.rejected).reduce((a, b) => a + b, 0) + s.commands.duplicates + s.commands.count;
  op.on('message', (_t, p) => {
    if (p.length) {
      const s = JSON.parse(p.toString()) as FleetStatusMessage;
      if (s.device === 'd1') judged = statusOf(s);
    }
  });
  while (judged < 10_000 && Date.now() - t0 < 600_000) await sleep(100);
  const drainS = (Date.now() - t0) / 1000;
  clearInterval(poll);
  const after = proc(pids[0]!);
  console.log(
    `flood of 10 000 envelopes: judged in ${drainS.toFixed(1)} s, device CPU ${((after.ticks - before.ticks) / CLK_TCK).toFixed(1)} s = ${((after.ticks - before.ticks) / CLK_TCK / 10).toFixed(2)} ms per envelope with receiving and status (${(((after.ticks - before.ticks) / CLK_TCK / drainS) * 100).toFixed(0)} % of one core), RSS ${(before.rssKb / 1024).toFixed(1)} -> peak ${(peak / 1024).toFixed(1)} MiB, after ${(after.rssKb / 1024).toFixed(1)} MiB (load ${loadavg()[0]!.toFixed(1)})`,
  );
  const [onSnap, offSnap] = [await snapshot(devices[0]!), await snapshot(off)];
  console.log(
    `worst event-loop delay during the flood (what playback would feel; its audio queue holds ~85 ms): fleet on ${onSnap.loopDelayMaxMs.toFixed(1)} ms, the same process with fleet off ${offSnap.loopDelayMaxMs.toFixed(1)} ms (the machine's own scheduling delays); the longest stretch of fleet work at once ${onSnap.snapshot.longestSliceMs.toFixed(1)} ms (wall time, preemption included)`,
  );
  console.log(
    'spread in UTC of the frame where a command took effect: see bench/fleet-sync.ts (three jaudiosync run processes)',
  );
  await op.endAsync();
} finally {
  finished = true;
  for (const c of children) c.kill('SIGKILL');
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
