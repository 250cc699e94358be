import test from 'ava';
import { LedTwin } from '../drivers/led/led.js';
import { driveLed, ledLit, LED_TICK_MS } from '../src/service/led.js';

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

test('the driver follows the state onto the LED and switches it off when stopped', async (t) => {
  const led = new LedTwin(Date.now);
  let state: 'unsynchronized' | 'playing' = 'unsynchronized';
  const stop = driveLed(led, () => state, Date.now);
  await new Promise((r) => setTimeout(r, 1000));
  const blinking = led.changes.length;
  t.true(blinking >= 4, `blinks while unsynchronized: ${blinking} changes`);
  state = 'playing';
  await new Promise((r) => setTimeout(r, 3 * LED_TICK_MS));
  const at = led.changes.length;
  await new Promise((r) => setTimeout(r, 500));
  t.true(led.on, 'steady on while playing');
  t.is(led.changes.length, at, 'no blinking while playing');
  stop();
  t.false(led.on);
});
