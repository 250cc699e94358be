import test from 'ava';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DriftLog, formatRecord } from '../src/time/drift-log.js';
import { tempDir } from './helpers/tmp.js';

test('records are JSON lines with a version and ns as decimal strings', (t) => {
  const line = formatRecord({
    kind: 'sample',
    source: 'gps+pps',
    monoNs: 123n,
    utcNs: 1_790_000_000_123_456_789n,
    errorNs: 10_000,
  });
  t.true(line.endsWith('\n'));
  t.deepEqual(JSON.parse(line), {
    v: 1,
    kind: 'sample',
    source: 'gps+pps',
    monoNs: '123',
    utcNs: '1790000000123456789',
    errorNs: 10000,
  });
});

test('the log rotates by size and keeps a bounded number of files', async (t) => {
  const dir = tempDir('jas-drift-');
  const path = join(dir, 'drift.jsonl');
  const log = new DriftLog({ path, maxBytes: 2_000, keep: 2, flushMs: 60_000 });
  for (let round = 0; round < 8; round++) {
    for (let i = 0; i < 10; i++) log.add({ kind: 'event', monoNs: BigInt(round * 100 + i), message: 'x'.repeat(40) });
    await log.flush();
  }
  await log.close();
  t.true(existsSync(`${path}.1`) && existsSync(`${path}.2`));
  t.false(existsSync(`${path}.3`), 'only `keep` rotated files');
  for (const f of [path, `${path}.1`]) {
    const text = readFileSync(f, 'utf8');
    t.true(text.length <= 2_000 + 1_000, `${f} is ${text.length} bytes`);
    for (const l of text.trim().split('\n')) t.is(JSON.parse(l).kind, 'event');
  }
  // The newest records are in the current file.
  t.regex(readFileSync(path, 'utf8'), /"monoNs":"709"/);
});

test('an unwritable log is reported once and never throws', async (t) => {
  const dir = tempDir('jas-drift-');
  const path = join(dir, 'sub');
  writeFileSync(path, ''); // a file where a directory is needed: every append fails
  const said: string[] = [];
  const log = new DriftLog({ path: join(path, 'drift.jsonl'), onError: (m) => said.push(m), flushMs: 60_000 });
  for (let i = 0; i < 3; i++) {
    log.add({ kind: 'event', monoNs: 1n, message: 'm' });
    await log.flush();
  }
  await log.close();
  t.is(said.length, 1);
  t.regex(said[0]!, /drift log .*drift\.jsonl: .*dropped until it is writable/);
  chmodSync(dir, 0o755);
});
