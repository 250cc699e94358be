import test from 'ava';
import type { FleetStatusMessage } from '../src/fleet/topics.js';
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
