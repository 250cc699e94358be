import test from 'ava';
import { Writable } from 'node:stream';
import { createLogger, REPEAT_WINDOW_MS } from '../src/service/log.js';

/** Logs fit journald: priorities, no colour off a TTY, repeats counted instead of printed. */

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  return { lines, stream };
}

test('under systemd each line carries its journal priority, and no colour', (t) => {
  const old = process.env.JOURNAL_STREAM;
  process.env.JOURNAL_STREAM = '8:12345';
  t.teardown(() => {
    if (old === undefined) delete process.env.JOURNAL_STREAM;
    else process.env.JOURNAL_STREAM = old;
  });
  const { lines, stream } = sink();
  const log = createLogger(stream);
  log.info('ready');
  log.warn('GPS lost');
  t.deepEqual(lines, ['<6>ready', '<4>warning: GPS lost']);
  t.false(lines.some((l) => l.includes('\x1b[')));
});

test('the same warning within a minute is counted, then said with its count', (t) => {
  delete process.env.JOURNAL_STREAM;
  const { lines, stream } = sink();
  let now = 0;
  const log = createLogger(stream, false, () => now);
  for (let i = 0; i < 50; i++) {
    log.warn('DS3231: EIO reading the time');
    now += 1000;
  }
  t.deepEqual(lines, ['warning: DS3231: EIO reading the time'], 'printed once in the first minute');
  now = REPEAT_WINDOW_MS + 10_000;
  log.warn('DS3231: EIO reading the time');
  t.is(lines[1], `warning: DS3231: EIO reading the time (repeated 49 more times in ${REPEAT_WINDOW_MS / 1000} s)`);
  t.is(lines[2], 'warning: DS3231: EIO reading the time', 'and the new one is said again');
  log.warn('something else');
  t.is(lines.at(-1), 'warning: something else');
});
