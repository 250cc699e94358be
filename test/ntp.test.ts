import test from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { ntpToUtcNs, NtpSource, sntpQuery, utcNsToNtp } from '../src/time/sources/ntp.js';
import type { TimeSample } from '../src/time/sample.js';
import { hrtimeClock } from '../src/time/clock.js';
import { simTruth } from './helpers/sim-truth.js';
import { tempDir } from './helpers/tmp.js';

/**
 * A real UDP SNTP server on loopback, started by the test: it answers with this machine's clock as
 * read when it started (on the monotonic clock from then on: a later step of the system clock does
 * not move it, as it would not move a server elsewhere) shifted by `offsetNs`, and holds each reply
 * for `holdMs` (network delay), or misbehaves on request.
 */
async function server(
  opts: { offsetNs?: bigint; holdMs?: number; kiss?: string; wrongOrigin?: boolean; unsynced?: boolean } = {},
): Promise<{ addr: string; sock: Socket; requests: number; truth: ReturnType<typeof simTruth> }> {
  const truth = simTruth();
  const sock = createSocket('udp4');
  const state = { addr: '', sock, requests: 0, truth };
  sock.on('message', (msg, rinfo) => {
    state.requests++;
    const rx = truth.nowNs() + (opts.offsetNs ?? 0n);
    const reply = Buffer.alloc(48);
    reply[0] = ((opts.unsynced ? 3 : 0) << 6) | (4 << 3) | 4;
    reply[1] = opts.kiss ? 0 : 1;
    if (opts.kiss) reply.write(opts.kiss, 12, 'ascii');
    else reply.write('GPS', 12, 'ascii');
    msg.copy(reply, 24, 40, 48); // originate = the client's transmit stamp
    if (opts.wrongOrigin) reply[24] ^= 0xff;
    utcNsToNtp(rx, reply, 32);
    setTimeout(() => {
      utcNsToNtp(truth.nowNs() + (opts.offsetNs ?? 0n), reply, 40);
      sock.send(reply, rinfo.port, rinfo.address);
    }, opts.holdMs ?? 0);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  state.addr = `127.0.0.1:${sock.address().port}`;
  return state;
}

test('NTP timestamps convert exactly, across the 2036 era boundary', (t) => {
  const b = Buffer.alloc(8);
  for (const ns of [1_790_000_000_123_456_789n, 2_085_978_496_000_000_000n + 5n * 1_000_000_000n]) {
    utcNsToNtp(ns, b, 0);
    t.true(Math.abs(Number(ntpToUtcNs(b, 0) - ns)) <= 1, `${ns}`);
  }
});

test('SNTP against a loopback server 250 ms ahead: offset found within half the measured delay', async (t) => {
  const s = await server({ offsetNs: 250_000_000n, holdMs: 20 });
  t.teardown(() => s.sock.close());
  const r = await sntpQuery(s.addr, hrtimeClock.nowNs);
  // Judged on the server's own truth, so a step of this machine's clock meanwhile is not in it.
  const offsetNs = Number(r.utcNs - s.truth.utcOfMono(r.monoNs));
  // Any event-loop delay on either side shows up in the measured delay: half of it bounds the error.
  t.true(Math.abs(offsetNs - 250_000_000) <= r.delayNs / 2 + 500_000, `offset ${offsetNs} ns, delay ${r.delayNs} ns`);
  // The 20 ms the server held the reply is subtracted (t3 - t2): what is left is the round trip, which
  // on loopback is event-loop time only; the offset is right to half of whatever it is (above).
  t.true(r.delayNs >= 0);
  t.is(r.stratum, 1);
});

test('a burst keeps the minimum-delay reply and feeds one NTP sample per server', async (t) => {
  const s = await server({ offsetNs: -40_000_000n });
  t.teardown(() => s.sock.close());
  const samples: TimeSample[] = [];
  const src = new NtpSource(
    { addSample: (x) => samples.push(x) },
    { servers: [s.addr], nowNs: hrtimeClock.nowNs, burst: 3 },
  );
  const replies = await src.pollOnce();
  t.is(s.requests, 3);
  t.is(replies.length, 1);
  t.is(samples.length, 1);
  t.is(samples[0]!.source, 'ntp');
  t.true(samples[0]!.errorNs >= 1_000_000, 'an NTP sample never claims better than a millisecond');
});

test("kiss-o'-death DENY stops asking that server; RATE backs off; silence is reported once", async (t) => {
  const deny = await server({ kiss: 'DENY' });
  const rate = await server({ kiss: 'RATE' });
  const dead = createSocket('udp4');
  await new Promise<void>((r) => dead.bind(0, '127.0.0.1', r)); // bound, never answers
  t.teardown(() => {
    deny.sock.close();
    rate.sock.close();
    dead.close();
  });
  const said: string[] = [];
  const src = new NtpSource(
    { addSample: () => t.fail('no sample from misbehaving servers') },
    {
      servers: [deny.addr, rate.addr, `127.0.0.1:${dead.address().port}`],
      nowNs: hrtimeClock.nowNs,
      burst: 2,
      timeoutMs: 200,
      log: (m) => said.push(m),
    },
  );
  await src.pollOnce();
  await src.pollOnce();
  t.is(deny.requests, 1, 'DENY: never again');
  t.is(rate.requests, 1, 'RATE: skipped on the next poll');
  t.is(said.filter((m) => /no reply within 200 ms/.test(m)).length, 1, said.join(' | '));
  t.true(said.some((m) => /DENY.*not asking it again/.test(m)));
});

test('replies that do not echo our transmit stamp, or from an unsynchronized server, are not believed', async (t) => {
  const spoof = await server({ wrongOrigin: true });
  const unsynced = await server({ unsynced: true });
  t.teardown(() => {
    spoof.sock.close();
    unsynced.sock.close();
  });
  await t.throwsAsync(sntpQuery(spoof.addr, hrtimeClock.nowNs, 300), { message: /no reply within 300 ms/ });
  await t.throwsAsync(sntpQuery(unsynced.addr, hrtimeClock.nowNs, 300), { message: /not synchronized/ });
});

test('NTP only: clock monitor locks on a loopback SNTP server and reports the system clock against it', async (t) => {
  const s = await server({ offsetNs: 30_000_000n });
  t.teardown(() => s.sock.close());
  const dir = tempDir('jas-ntp-');
  writeFileSync(
    join(dir, 'c.toml'),
    [
      '[hardware]',
      'mode = "simulated"',
      '[gps]',
      'enabled = false',
      '[rtc]',
      'enabled = false',
      '[ntp]',
      `servers = ["${s.addr}"]`,
      'poll_s = 1',
    ].join('\n'),
  );
  const r = await runCli(['clock', 'monitor', '--config', join(dir, 'c.toml'), '--duration', '9', '--json']);
  t.is(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    state: string;
    source: string;
    simulated: boolean;
    systemMinusUtcNs: number;
    errorBoundNs: number;
  };
  t.is(last.source, 'ntp');
  t.is(last.state, 'locked');
  t.is(last.simulated, false, 'a real NTP server with the twins switched off: nothing simulated');
  // The server is 30 ms ahead of this machine's clock as it was: the system clock is 30 ms behind
  // NTP's UTC, plus however far it was stepped since (a VM resumed, timesyncd), said if it was.
  const steppedNs = s.truth.steppedNs();
  if (Math.abs(steppedNs) > 1_000_000)
    t.log(`the system clock was stepped by ${(steppedNs / 1e6).toFixed(3)} ms meanwhile`);
  const want = -30_000_000 + steppedNs;
  t.true(Math.abs(last.systemMinusUtcNs - want) < Math.max(2_000_000, last.errorBoundNs), JSON.stringify(last));
});
