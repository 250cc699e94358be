import test from 'ava';
import fc from 'fast-check';
import { parseNmeaLine } from '../drivers/gps/nmea.js';
import { sentence, sentencesForSecond } from '../drivers/gps/emulator.js';

/** Property-based: whatever arrives on the wire, the parser neither throws nor invents a time. */

const SEED = 20261124;

test('random bytes never throw and never yield a valid time', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const r = parseNmeaLine(Buffer.from(bytes).toString('latin1'), 0n);
      return !(r.kind === 'fix' && r.fix.valid);
    }),
    { seed: SEED, numRuns: 5000 },
  );
  t.pass();
});

test('a mutated valid sentence gives either its own time or no valid time', (t) => {
  const base = sentencesForSecond(1_790_000_000, { sentences: ['RMC'] })[0]!.text;
  const truth = 1_790_000_000n * 1_000_000_000n;
  let validAfterMutation = 0;
  fc.assert(
    fc.property(fc.nat(base.length - 3), fc.integer({ min: 32, max: 126 }), (pos, code) => {
      const mutated = base.slice(0, pos) + String.fromCharCode(code) + base.slice(pos + 1);
      const r = parseNmeaLine(mutated, 0n);
      if (r.kind === 'fix' && r.fix.valid) {
        validAfterMutation++;
        return mutated === base || r.fix.utcNs === truth; // a checksum-preserving no-op at most
      }
      return true;
    }),
    { seed: SEED, numRuns: 3000 },
  );
  t.log(`${validAfterMutation} mutations still valid (identity or outside the checksummed time)`);
  t.pass();
});

test('a re-checksummed sentence with random fields never throws', (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 14 }), (fields) => {
      const body = ['GPRMC', ...fields].join(',').replace(/[*$\r\n]/g, '');
      parseNmeaLine(sentence(body), 0n);
      parseNmeaLine(sentence(body.replace('GPRMC', 'GNZDA')), 0n);
      parseNmeaLine(sentence(body.replace('GPRMC', 'GPGGA')), 0n);
      return true;
    }),
    { seed: SEED, numRuns: 3000 },
  );
  t.pass();
});
