import test from 'ava';
import { bestStep, fitSteppedLine } from '../src/time/regress.js';
import { seededRandom } from '../src/sim/oscillator.js';

test('a stepped line: its slope, step and split found, exactly without noise and within its error with it', (t) => {
  const xs = Array.from({ length: 200 }, (_, i) => i * 10);
  const ys = xs.map((x, i) => 5 + 0.3 * x + (i >= 137 ? 40 : 0));
  const exact = fitSteppedLine(xs, ys, 137);
  t.true(Math.abs(exact.b - 0.3) < 1e-12 && Math.abs(exact.stepY - 40) < 1e-9 && exact.rss < 1e-12);
  t.is(bestStep(xs, ys, 20, 16)?.k, 137, 'narrowed down to the very split');
  const rnd = seededRandom(3);
  const noisy = ys.map((y) => y + (rnd() - 0.5) * 20);
  const f = bestStep(xs, noisy, 20, 16)!;
  t.true(Math.abs(f.k - 137) <= 3, `split ${f.k}`);
  t.true(Math.abs(f.stepY - 40) < 3 * f.stepStdErr, `step ${f.stepY} ± ${f.stepStdErr}`);
  const flat = bestStep(
    xs,
    xs.map((x) => 0.3 * x + (rnd() - 0.5) * 20),
    20,
    16,
  )!;
  t.true(Math.abs(flat.stepY) < 6 * flat.stepStdErr, `no step: ${flat.stepY} ± ${flat.stepStdErr}`);
  t.is(bestStep(xs.slice(0, 30), ys.slice(0, 30), 20, 16), undefined, 'too few points for a split');
});
