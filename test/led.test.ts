import test from 'ava';
import { LedTwin } from '../drivers/led/led.js';
import { driveLed, ledLit, ledPatternFor, LED_TICK_MS } from '../src/service/led.js';
import { VirtualClock } from '../src/time/clock.js';

/** The status LED's patterns are told apart by a person: blink rates and duty differ per state. */

function sample(pattern: Parameters<typeof ledLit>[0]) {
  const lit = Array.from({ length: 2000 / 5 }, (_, i) => ledLit(pattern, i * 5));
  const edges = lit.filter((v, i) => i > 0 && v && !lit[i - 1]).length + (lit[0] && !lit.at(-1) ? 1 : 0);
  return { duty: lit.filter(Boolean).length / lit.length, edges };
}

test('each state has its own pattern: fast blink, slow blink, double flash, steady', (t) => {
  t.deepEqual(sample('unsynchronized'), { duty: 0.5, edges: 8 });
  t.deepEqual(sample('locked'), { duty: 0.5, edges: 1 });
  t.deepEqual(sample('holdover'), { duty: 0.15, edges: 2 });
  t.deepEqual(sample('playing'), { duty: 1, edges: 0 });
  t.deepEqual(sample('off'), { duty: 0, edges: 0 });
});

test('the driver follows the state onto the LED and switches it off when stopped', (t) => {
  const clock = new VirtualClock(0n);
  const led = new LedTwin(() => Number(clock.nowNs() / 1_000_000n));
  let state: 'unsynchronized' | 'playing' = 'unsynchronized';
  const stop = driveLed(led, () => state, clock);
  clock.advance(1_000_000_000n);
  const blinking = led.changes.length;
  t.true(blinking >= 6, `blinks at 4 Hz while unsynchronized: ${blinking} changes in 1 s`);
  state = 'playing';
  clock.advance(BigInt(3 * LED_TICK_MS) * 1_000_000n);
  const at = led.changes.length;
  clock.advance(500_000_000n);
  t.true(led.on, 'steady on while playing');
  t.is(led.changes.length, at, 'no blinking while playing');
  stop();
  t.false(led.on);
});

test('the LED never shows a lock on twins the config did not ask for', (t) => {
  const base = { clockState: 'locked', playing: false };
  t.is(
    ledPatternFor({ ...base, simulated: true, simulationAsked: false }),
    'unsynchronized',
    'auto on a bare machine: twins, not a lock',
  );
  t.is(ledPatternFor({ ...base, playing: true, simulated: true, simulationAsked: false }), 'unsynchronized');
  t.is(
    ledPatternFor({ ...base, simulated: true, simulationAsked: true }),
    'locked',
    'hardware.mode = "simulated": asked for',
  );
  t.is(ledPatternFor({ ...base, simulated: false, simulationAsked: false }), 'locked');
  t.is(ledPatternFor({ ...base, clockState: 'holdover', simulated: false, simulationAsked: false }), 'holdover');
});
