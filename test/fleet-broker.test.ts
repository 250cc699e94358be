import test from 'ava';
import { DEVICES, FLEET, startFleetRig, type FleetRig } from './helpers/fleet-rig.js';

/**
 * Fleet control through a real mosquitto (passwords, ACL) and the real CLI, with three device
 * processes that are each device's fleet layer (test/helpers/fleet-device.ts). What reaches the
 * audio (the same frame on three `jaudiosync run`s) is test/fleet-e2e.test.ts.
 */

const opOf = (ops: Array<Record<string, unknown>>, op: string) => ops.filter((o) => o.op === op);
const sameOps = (rig: FleetRig) => DEVICES.map((d) => JSON.stringify(rig.devices[d]!.ops));

test.serial('three devices: commands through the CLI are confirmed, folded identically, same instant everywhere; targets respected', async (t) => {
  t.timeout(240_000);
  const rig = await startFleetRig();
  try {
    await rig.waitStatus((s) => s.ride === rig.ride);
    const st = await rig.cli(['status', '--json']);
    t.is(st.code, 0, st.stderr);
    const rows = JSON.parse(st.stdout) as Array<{ device: string; online: boolean; simulated: boolean; sameDigest: boolean }>;
    t.deepEqual(rows.map((r) => [r.device, r.online, r.simulated, r.sameDigest]), DEVICES.map((d) => [d, true, true, true]));

    const vol = await rig.cli(['volume', '-6', '--ramp-ms', '0', '--wait']);
    t.is(vol.code, 0, vol.stdout + vol.stderr);
    t.regex(vol.stdout, /sent volume -6 dB at .* to every device of fleet "mass", ride .* \(reported by 3 devices\)/);
    t.regex(vol.stdout, /confirmed before its instant by 3\/3 devices: bike1, bike2, bike3/);
    await Promise.all(DEVICES.map((d) => rig.devices[d]!.until(() => opOf(rig.devices[d]!.ops, 'volume').length === 1, 10_000, 'volume op')));
    const ats = DEVICES.map((d) => opOf(rig.devices[d]!.ops, 'volume')[0]!.atUtcNs);
    t.is(new Set(ats).size, 1, 'the same UTC instant on every device');
    t.is(BigInt(ats[0] as string) % 1_000_000_000n, 0n, 'default instant: a whole second');

    const skip = await rig.cli(['skip', '--wait']);
    t.is(skip.code, 0, skip.stdout + skip.stderr);
    const stop = await rig.cli(['stop', '--fade-ms', '300', '--target', 'bike2', '--wait']);
    t.is(stop.code, 0, stop.stdout + stop.stderr);
    t.regex(stop.stdout, /to bike2 of fleet/);
    t.regex(stop.stdout, /confirmed before its instant by 1\/1 device: bike2/);
    await rig.devices.bike2!.until(() => opOf(rig.devices.bike2!.ops, 'stop').length === 1, 10_000, 'stop op');
    const s = await rig.waitStatus((x) => x.commands.count === 3);
    t.is(new Set([...s.values()].map((x) => x.commands.digest)).size, 1, 'the same command set (digest) on every device');
    t.deepEqual(opOf(rig.devices.bike1!.ops, 'stop'), [], 'a stop for bike2 only is not in bike1\'s plan');
    t.deepEqual(opOf(rig.devices.bike2!.ops, 'stop'), [{ atUtcNs: opOf(rig.devices.bike2!.ops, 'stop')[0]!.atUtcNs, op: 'stop', fadeMs: 300 }]);
    t.deepEqual(opOf(rig.devices.bike1!.ops, 'skip'), opOf(rig.devices.bike3!.ops, 'skip'));
    // The retained plan holds the ride's three envelopes.
    const c = await rig.client();
    const plan = await new Promise<{ ride: string; envelopes: string[] }>((resolve) => {
      c.on('message', (_t, p) => resolve(JSON.parse(p.toString()) as { ride: string; envelopes: string[] }));
      void c.subscribeAsync(`jas/v1/${FLEET}/plan`, { qos: 1 });
    });
    await c.endAsync();
    t.is(plan.ride, rig.ride);
    t.is(plan.envelopes.length, 3);
  } finally {
    await rig.close();
  }
});

test.serial('a device cut off or stopped when a command is sent is named by --wait, shows offline, and converges when it is back', async (t) => {
  t.timeout(300_000);
  const rig = await startFleetRig();
  try {
    await rig.waitStatus((s) => s.ride === rig.ride);
    // Out of Wi-Fi range: the broker publishes its last will.
    rig.relays.bike3!.cut();
    const st = await waitFor(async () => {
      const r = await rig.cli(['status', '--json']);
      const rows = JSON.parse(r.stdout) as Array<{ device: string; online: boolean }>;
      return rows.find((x) => x.device === 'bike3')?.online === false ? rows : undefined;
    }, 60_000);
    t.deepEqual(st.map((r) => r.online), [true, true, false]);
    const pause = await rig.cli(['pause', '--wait']);
    t.is(pause.code, 1, pause.stdout + pause.stderr);
    t.regex(pause.stdout, /confirmed before its instant by 2\/3 devices: bike1, bike2/);
    t.regex(pause.stdout, /NOT confirmed: bike3 \(offline: it catches up from the retained plan when it reconnects\)/);
    await rig.relays.bike3!.restore();
    await rig.devices.bike3!.until(() => opOf(rig.devices.bike3!.ops, 'pause').length === 1, 60_000, 'the pause after reconnecting');
    t.deepEqual(rig.devices.bike3!.ops, rig.devices.bike1!.ops, 'bike3 converged');

    // The process stopped (a reboot): it restarts with the stored commands, then catches up.
    await rig.devices.bike2!.stop('SIGTERM');
    await rig.waitStatus(() => true, ['bike1']);
    const resume = await rig.cli(['resume', '--wait']);
    t.is(resume.code, 1);
    t.regex(resume.stdout, /NOT confirmed: bike2 \(offline/);
    await rig.devices.bike2!.start();
    const ready = rig.devices.bike2!.events.find((e) => e.event === 'ready')!;
    t.deepEqual(opOf(ready.ops, 'pause').length, 1, 'the stored pause is in the plan before anything is placed');
    await rig.devices.bike2!.until(() => opOf(rig.devices.bike2!.ops, 'resume').length === 1, 60_000, 'the resume after restarting');

    // A crash (SIGKILL) is the same, and so is the will.
    await rig.devices.bike1!.stop('SIGKILL');
    const mute = await rig.cli(['mute', '--wait']);
    t.is(mute.code, 1);
    t.regex(mute.stdout, /NOT confirmed: bike1 \(offline/);
    await rig.devices.bike1!.start();
    await rig.devices.bike1!.until(() => opOf(rig.devices.bike1!.ops, 'mute').length === 1, 60_000, 'the mute after the crash');
    const s = await rig.waitStatus((x) => x.commands.count === 3);
    t.is(new Set([...s.values()].map((x) => x.commands.digest)).size, 1);
    t.deepEqual(new Set(sameOps(rig)).size, 1, 'all three plan with the same ops');
  } finally {
    await rig.close();
  }
});

test.serial('the broker killed: nothing changes on the devices; back: presence, the plan and new commands return', async (t) => {
  t.timeout(300_000);
  const rig = await startFleetRig();
  try {
    await rig.waitStatus((s) => s.ride === rig.ride);
    const vol = await rig.cli(['volume', '-3', '--wait']);
    t.is(vol.code, 0, vol.stdout);
    await Promise.all(DEVICES.map((d) => rig.devices[d]!.until(() => opOf(rig.devices[d]!.ops, 'volume').length === 1, 10_000, 'volume')));
    const before = DEVICES.map((d) => rig.devices[d]!.events.length);
    await rig.broker.kill();
    await new Promise((r) => setTimeout(r, 4000));
    for (const d of DEVICES) {
      t.is(rig.devices[d]!.child!.exitCode, null, `${d} still runs`);
      t.is(rig.devices[d]!.events.length, before[DEVICES.indexOf(d)], `${d}: no change to its ops`);
      t.regex(rig.devices[d]!.output, /fleet: lost mqtt:\/\/127\.0\.0\.1:\d+.*retrying \(playback is not affected\)/);
    }
    await rig.broker.start(); // no persistence: the retained plan and statuses are gone
    await rig.waitStatus((s) => s.commands.count === 1, [...DEVICES], 90_000);
    const c = await rig.client();
    const plan = await new Promise<{ envelopes: string[] }>((resolve) => {
      c.on('message', (_t, p) => { if (p.length) resolve(JSON.parse(p.toString()) as { envelopes: string[] }); });
      void c.subscribeAsync(`jas/v1/${FLEET}/plan`, { qos: 1 });
    });
    await c.endAsync();
    t.is(plan.envelopes.length, 1, 'a device put the plan back');
    const mute = await rig.cli(['mute', '--wait']);
    t.is(mute.code, 0, mute.stdout);
    t.regex(mute.stdout, /3\/3/);
  } finally {
    await rig.close();
  }
});

async function waitFor<T>(f: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
