import test from 'ava';
import { RealtimeConverter } from '../src/time/realtime-converter.js';
import type { RealtimeReaders } from '../src/time/realtime.js';

/**
 * A fake pair of clocks: realtime = monotonic + offset; each monotonic read advances it by `readNs`,
 * and while `preempted` every read also loses `stallNs` (a busy CPU between two reads).
 */
function fakeClocks(offsetNs: bigint, readNs = 200n) {
  const c = { mono: 5_000_000_000n, offsetNs, preempted: false, stallNs: 300_000n };
  const readers: RealtimeReaders = {
    monoNs: () => (c.mono += readNs + (c.preempted ? c.stallNs : 0n)),
    realtimeMs: () => Number((c.mono + c.offsetNs) / 1_000_000n),
  };
  return { c, readers };
}

test('a refresh taken while every attempt was preempted keeps the offset in use; a clean one takes a step and says so', (t) => {
  const { c, readers } = fakeClocks(1_700_000_000_000_000_000n);
  const said: string[] = [];
  const conv = new RealtimeConverter(readers, (m) => said.push(m));
  const steps: number[] = [];
  conv.onStep((jumpNs) => {
    steps.push(jumpNs);
    t.true(Math.abs(Number(conv.toRealtime(0n) - c.offsetNs)) <= conv.errorNs, 'told with the new offset in use');
  });
  const good = conv.toRealtime(0n);
  t.true(Math.abs(Number(good - c.offsetNs)) <= conv.errorNs, 'the first estimate is within its own bound');
  t.true(conv.errorNs < 1_000);

  c.preempted = true;
  c.offsetNs += 40_000n; // a small slew the bad refresh would see, bracketed by 300 µs stalls
  conv.refresh();
  t.is(conv.toRealtime(0n), good, 'a poorly bracketed refresh is not used');

  c.preempted = false;
  c.offsetNs += 5_000_000n; // the system clock stepped 5 ms
  conv.refresh();
  t.true(Math.abs(Number(conv.toRealtime(0n) - c.offsetNs)) <= conv.errorNs, 'a clean refresh is used');
  t.true(
    said.some((m) => /system clock stepped by 5\.0\d\d ms/.test(m)),
    said.join('\n'),
  );
  t.is(steps.length, 1, 'the step is told once, and the preempted refresh told nothing');
  t.true(Math.abs(steps[0]! - 5_040_000) < 2_000, `told ${steps[0]} ns`);
});

test('a step listener that throws is reported and does not stop the others (the refresh runs in a timer)', (t) => {
  const { c, readers } = fakeClocks(1_700_000_000_000_000_000n);
  const said: string[] = [];
  const conv = new RealtimeConverter(readers, (m) => said.push(m));
  const told: number[] = [];
  conv.onStep(() => {
    throw new Error('listener broke');
  });
  conv.onStep((jumpNs) => told.push(jumpNs));
  c.offsetNs -= 20_000_000n;
  t.notThrows(() => conv.refresh());
  t.is(told.length, 1, 'the second listener was told');
  t.true(
    said.some((m) => /after the system clock step: listener broke/.test(m)),
    said.join('\n'),
  );
});
