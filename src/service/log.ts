/**
 * Logging that fits journald: one line per event with a level word, no colour unless on a TTY.
 * The status line (countdown, track) rewrites itself on a TTY and is printed sparsely otherwise.
 */

export type Level = 'info' | 'warn' | 'error';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** A status line: rewritten in place on a TTY, printed every `everyMs` otherwise. */
  status(line: string): void;
}

const STATUS_EVERY_MS_NO_TTY = 10_000;
/**
 * The same warning or error again within this window is counted, not printed: an unplugged I2C
 * bus must not fill the journal with a line a second. The count is said when the window ends.
 */
export const REPEAT_WINDOW_MS = 60_000;

export function createLogger(
  stream: NodeJS.WriteStream = process.stdout,
  quiet = false,
  nowMs: () => number = Date.now,
): Logger {
  const repeats = new Map<string, { firstMs: number; count: number }>();
  const tty = Boolean(stream.isTTY) && !process.env.NO_COLOR;
  const journal = !stream.isTTY && Boolean(process.env.JOURNAL_STREAM);
  let statusShown = false;
  let lastStatusMs = -Infinity;
  const clearStatus = () => {
    if (statusShown) {
      stream.write('\r\x1b[2K');
      statusShown = false;
    }
  };
  const line = (level: Level, msg: string) => {
    if (level !== 'info') {
      const now = nowMs();
      for (const [k, r] of repeats) {
        if (now - r.firstMs < REPEAT_WINDOW_MS) continue;
        repeats.delete(k);
        if (r.count > 0)
          emit(level, `${k} (repeated ${r.count} more time${r.count > 1 ? 's' : ''} in ${REPEAT_WINDOW_MS / 1000} s)`);
      }
      const r = repeats.get(msg);
      if (r) {
        r.count++;
        return;
      }
      repeats.set(msg, { firstMs: now, count: 0 });
    }
    emit(level, msg);
  };
  const emit = (level: Level, msg: string) => {
    clearStatus();
    // Under systemd (JOURNAL_STREAM set) a "<N>" prefix is the line's journal priority.
    const priority = journal ? { info: '<6>', warn: '<4>', error: '<3>' }[level] : '';
    const tag =
      priority +
      (tty
        ? { info: '', warn: '\x1b[33mwarning:\x1b[0m ', error: '\x1b[31merror:\x1b[0m ' }[level]
        : { info: '', warn: 'warning: ', error: 'error: ' }[level]);
    (level === 'error' ? process.stderr : stream).write(`${tag}${msg}\n`);
  };
  return {
    info: (m) => {
      if (!quiet) line('info', m);
    },
    warn: (m) => line('warn', m),
    error: (m) => line('error', m),
    status: (s) => {
      if (quiet) return;
      if (tty) {
        stream.write(`\r\x1b[2K${s}`);
        statusShown = true;
        return;
      }
      const now = Date.now();
      if (now - lastStatusMs >= STATUS_EVERY_MS_NO_TTY) {
        lastStatusMs = now;
        stream.write(`${s}\n`);
      }
    },
  };
}
