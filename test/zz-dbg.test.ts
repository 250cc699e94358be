import test from 'ava';
import { DacClock } from '../src/player/dac-clock.js';
import { rigCallbackDelayNs } from '../src/sim/virtual-sink.js';
import { seededRandom } from '../src/sim/oscillator.js';
test('x', (t) => {
  const rnd = seededRandom(103);
  const d = new DacClock(1024, 48000);
  const per = 1024e9 / (48000 * (1 + 60e-6));
  for (let k = 0; k < 3500; k++) {
    const shift = k >= 1875 ? 3e6 : 0;
    d.observe(k, BigInt(Math.round(k * per + shift + rigCallbackDelayNs(rnd))));
    const pop = d.popMonoNs(k);
    if (k % 100 === 0 || (k > 1870 && k < 1960 && k % 5 === 0)) t.log(k, d.gridMoves, JSON.stringify(d.rate()), pop !== undefined ? ((Number(pop) - (k * per + shift)) / 1000).toFixed(1) : '-');
  }
  t.pass();
});
