import test from 'ava';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlanOp } from '../src/player/plan-ops.js';
import { parseConfig, type Config } from '../src/service/config.js';
import type { Logger } from '../src/service/log.js';
import { hrtimeClock } from '../src/time/clock.js';
import { rideIdOf } from '../src/fleet/command.js';
import { startFleet, type OpsInfo } from '../src/fleet/index.js';
import { generateOperatorKey, parseOperatorKey } from '../src/fleet/keys.js';
import { signCommand } from '../src/fleet/sign.js';
import { COMMANDS_FILE } from '../src/fleet/store.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

/**
 * Without a broker: keys from `fleet keygen`, envelopes from `fleet sign`, handed to a device with
 * `fleet apply`; the device's fleet layer takes them in, persists them atomically and re-reads them
 * before anything is placed after a restart.
 */

const S = 1_000_000_000n;
const startUtcNs = (BigInt(Date.now()) / 1000n - 60n) * S;
const RIDE = rideIdOf(startUtcNs);

function logger(lines: string[]): Logger {
  return {
    info: (m) => lines.push(m),
    warn: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    status: () => {},
  };
}

async function device(
  config: Config,
  stateDir: string,
  calls: Array<{ ops: PlanOp[]; info: OpsInfo }>,
  lines: string[] = [],
) {
  return startFleet({
    config,
    log: logger(lines),
    clock: hrtimeClock,
    stateDir,
    utcNowNs: () => BigInt(Date.now()) * 1_000_000n,
    rideId: () => RIDE,
    status: () => ({ clock: { state: 'locked', source: 'gps+pps', errorBoundUs: 1 }, simulated: true }),
    onOps: (ops, info) => calls.push({ ops, info }),
  });
}

test.serial(
  'keygen, sign, apply: the running device takes the commands in; a restart re-reads them before it returns',
  async (t) => {
    const dir = tempDir('jas-fleet-files-');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const kg = await runCli(['fleet', 'keygen', '--id', 'alice', '--role', 'dj', '--out', join(dir, 'alice.key')]);
    t.is(kg.code, 0, kg.stderr);
    t.is(statSync(join(dir, 'alice.key')).mode & 0o777, 0o600, 'the private key is 0600');
    t.regex(kg.stdout, /^\[\[fleet\.keys\]\]\nid = "alice"\nrole = "dj"\npublic_key = "[A-Za-z0-9+/]{43}="\n$/);
    t.regex(kg.stderr, /keep it with the operator, never on a device/);
    t.is(parseOperatorKey(readFileSync(join(dir, 'alice.key'), 'utf8'), 'alice.key').role, 'dj');
    const again = await runCli(['fleet', 'keygen', '--id', 'alice', '--role', 'dj', '--out', join(dir, 'alice.key')]);
    t.is(again.code, 1);
    t.regex(again.stderr, /alice\.key exists: not overwriting a key/);

    const state = join(dir, 'state');
    const toml = `[service]\nstate_dir = "${state}"\n[fleet]\nenabled = true\nid = "mass"\ndevice = "bike1"\n\n${kg.stdout}`;
    writeFileSync(join(dir, 'device.toml'), toml);
    const config = parseConfig(toml, join(dir, 'device.toml'), dir);
    const calls: Array<{ ops: PlanOp[]; info: OpsInfo }> = [];
    const lines: string[] = [];
    const fleet = await device(config, state, calls, lines);
    t.teardown(() => fleet.stop());
    t.deepEqual(fleet.ops(), []);
    t.regex(lines.join('\n'), /fleet "mass" as device "bike1": 0 stored commands of ride .*; 1 operator key/);
    t.regex(lines.join('\n'), /no brokers configured: commands come only from files/);

    const cmds = join(dir, 'cmds.jsonl');
    const sign = (args: string[]) =>
      runCli([
        'fleet',
        'sign',
        ...args,
        '--key',
        join(dir, 'alice.key'),
        '--config',
        join(dir, 'device.toml'),
        '--ride',
        RIDE,
        '--out',
        cmds,
      ]);
    const s1 = await sign(['volume', '-9', '--ramp-ms', '250', '--at', '+1']);
    t.is(s1.code, 0, s1.stderr);
    t.regex(s1.stdout, /wrote volume -9 dB over 250 ms at .* for ride .* \(--ride\) to .*cmds\.jsonl/);
    const s2 = await sign(['seek', '3', '12.5']);
    t.is(s2.code, 0, s2.stderr);
    const denied = await sign(['start']);
    t.is(denied.code, 1);
    t.regex(denied.stderr, /key "alice" has role dj, which may not start/);
    // A forged line among them: apply reports it and hands over the rest.
    const lines2 = readFileSync(cmds, 'utf8').trim().split('\n');
    t.is(lines2.length, 2);
    const impostor = generateOperatorKey('alice', 'dj').key; // the same key id, another key
    const forged = signCommand(
      {
        fleet: 'mass',
        ride: RIDE,
        op: 'stop',
        args: { fadeMs: 0 },
        atUtcNs: BigInt(Date.now()) * 1_000_000n,
        issuedUtcNs: BigInt(Date.now()) * 1_000_000n,
      },
      impostor,
    );
    writeFileSync(cmds, `${lines2.join('\n')}\n${forged.envelope}\n`);
    const ap = await runCli(['fleet', 'apply', cmds, '--config', join(dir, 'device.toml')]);
    t.is(ap.code, 1, 'one line was bad');
    t.regex(ap.stdout, /line 3: rejected: bad signature/);
    t.regex(ap.stdout, /2 commands handed to the service in .*fleet-inbox/);
    // The running device takes the inbox in within its status period.
    const until = Date.now() + 20_000;
    while (fleet.ops().length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    t.deepEqual(
      fleet.ops().map((o) => o.op),
      ['volume', 'seek'],
    );
    t.deepEqual(
      fleet.ops()[1],
      { atUtcNs: fleet.ops()[1]!.atUtcNs, op: 'seek', track: 2, offsetSec: 12.5 },
      'track 3 on the command line is index 2',
    );
    t.is(calls.at(-1)!.info.accepted.length, 2);
    t.true(calls.at(-1)!.info.accepted.every((a) => a.source === 'inbox'));
    await new Promise((r) => setTimeout(r, 500));
    t.deepEqual(readdirSync(join(state, 'fleet-inbox')), [], 'the inbox is emptied');
    t.is(
      (JSON.parse(readFileSync(join(state, COMMANDS_FILE), 'utf8')) as { envelopes: string[] }).envelopes.length,
      2,
      'persisted',
    );
    await fleet.stop();

    // A reboot: the commands are in the plan before startFleet returns.
    const calls2: Array<{ ops: PlanOp[]; info: OpsInfo }> = [];
    const fleet2 = await device(config, state, calls2);
    t.teardown(() => fleet2.stop());
    t.deepEqual(
      fleet2.ops().map((o) => o.op),
      ['volume', 'seek'],
    );
    t.is(calls2.length, 1, 'onOps was called before startFleet returned');
    t.true(calls2[0]!.info.accepted.every((a) => a.source === 'store'));
    await fleet2.stop();
    // A reboot before the clock knows the ride: nothing counts yet; refresh() once it is known (before
    // the first frame is placed) brings the stored commands in at once.
    let ride: string | undefined;
    const calls4: Array<{ ops: PlanOp[]; info: OpsInfo }> = [];
    const fleet4 = await startFleet({
      config,
      log: logger([]),
      clock: hrtimeClock,
      stateDir: state,
      utcNowNs: () => BigInt(Date.now()) * 1_000_000n,
      rideId: () => ride,
      status: () => ({ clock: { state: 'unsynchronized', source: 'system', errorBoundUs: null }, simulated: true }),
      onOps: (ops, info) => calls4.push({ ops, info }),
    });
    t.teardown(() => fleet4.stop());
    t.deepEqual(fleet4.ops(), []);
    t.is(calls4.length, 0);
    ride = RIDE;
    t.deepEqual(
      fleet4.refresh().map((o) => o.op),
      ['volume', 'seek'],
    );
    t.is(calls4.length, 1, 'onOps called by refresh()');
    t.true(calls4[0]!.info.accepted.every((a) => a.source === 'held'));
    await fleet4.stop();
    // Another fleet's key set: the stored commands no longer verify and count for nothing.
    const other = parseConfig(toml.replace(/public_key = ".*"/, `public_key = "${'B'.repeat(43)}="`), 'x', dir);
    const lines3: string[] = [];
    const fleet3 = await device(other, state, [], lines3);
    t.teardown(() => fleet3.stop());
    t.deepEqual(fleet3.ops(), []);
    t.regex(lines3.join('\n'), /rejected: bad signature/);
    await fleet3.stop();
  },
);

test.serial(
  'a damaged state file is said once and playback goes on with no stored commands; fleet disabled does nothing',
  async (t) => {
    const dir = tempDir('jas-fleet-files-');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, COMMANDS_FILE), '{"v":1,"fleet":"mass","envel');
    const config = parseConfig('[fleet]\nenabled = true\nid = "mass"\n', 'c', dir);
    const lines: string[] = [];
    const fleet = await device(config, dir, [], lines);
    t.teardown(() => fleet.stop());
    t.deepEqual(fleet.ops(), []);
    t.regex(lines.join('\n'), /warning: fleet: .*fleet-commands\.json is damaged .*: starting without stored commands/);
    await fleet.stop();
    const off = await device(parseConfig('', 'c', dir), join(dir, 'nothing'), []);
    t.false(off.enabled);
    t.deepEqual(off.ops(), []);
    await off.stop();
    t.false(existsSync(join(dir, 'nothing')), 'disabled: nothing written');
  },
);
