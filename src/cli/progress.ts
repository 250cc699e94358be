import { hrtimeClock } from '../time/clock.js';
import { formatDuration } from '../util/format.js';

/**
 * Progress of long work (timeline build, a big calibrate report, a ride simulation): on a terminal
 * one line rewritten in place with a bar and an ETA; elsewhere (journald, a pipe, CI) a plain line
 * every `everySec`, so a log shows the work moving without a line per step. Time is injected.
 *
 *   const p = new Progress({ label: 'timeline build', total: n, unit: 'tracks' });
 *   for (...) { p.update(i, title); ...work...; }
 *   p.finish();
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  label: string;
  /** Units of work in all (tracks, bytes, simulated seconds). */
  total: number;
  /** Their name, e.g. "tracks"; with `amount`, how a quantity is written (bytes as MiB). */
  unit?: string;
  amount?: (v: number) => string;
  /** Default: stderr, so stdout stays the command's result. */
  stream?: ProgressStream;
  /** Monotonic clock (ns). */
  nowNs?: () => bigint;
  /** Off a terminal: a line this often (s). */
  everySec?: number;
  /** On a terminal: redraw at most this often (ms). */
  redrawMs?: number;
}

/** Off a terminal, a line every 10 s: a journal shows the work moving, not every step of it. */
export const PROGRESS_EVERY_SEC = 10;
/** On a terminal, 5 redraws a second look live and cost nothing. */
const REDRAW_MS = 200;
/** An ETA from less than this much work done (s elapsed) is a guess: say "estimating". */
const ETA_AFTER_SEC = 2;
const BAR_CHARS = 20;

/** The words of one progress report (pure): "12/36 tracks (33 %), 1:02 elapsed, about 2:04 left". */
export function formatProgress(o: {
  done: number;
  total: number;
  elapsedSec: number;
  unit?: string;
  amount?: (v: number) => string;
}): string {
  const amount = o.amount ?? ((v: number) => String(Math.round(v)));
  const frac = o.total > 0 ? Math.min(1, Math.max(0, o.done / o.total)) : 0;
  const eta =
    o.done > 0 && o.elapsedSec >= ETA_AFTER_SEC
      ? `about ${formatDuration(Math.ceil((o.elapsedSec * (o.total - o.done)) / o.done))} left`
      : 'estimating the time left';
  return `${amount(o.done)}/${amount(o.total)}${o.unit ? ` ${o.unit}` : ''} (${Math.floor(frac * 100)} %), ${formatDuration(o.elapsedSec)} elapsed, ${eta}`;
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly nowNs: () => bigint;
  private readonly startNs: bigint;
  private lastDrawNs?: bigint;
  private lastLineNs: bigint;
  private drawn = false;
  private done = 0;
  private note = '';

  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
    this.nowNs = o.nowNs ?? hrtimeClock.nowNs;
    this.startNs = this.lastLineNs = this.nowNs();
  }

  private get tty(): boolean {
    return Boolean(this.stream.isTTY) && !process.env.NO_COLOR;
  }

  /** `done` units finished so far; `note` names what is being worked on (a track's title). */
  update(done: number, note?: string): void {
    this.done = done;
    if (note !== undefined) this.note = note;
    const now = this.nowNs();
    if (this.tty) {
      if (this.lastDrawNs !== undefined && Number(now - this.lastDrawNs) < (this.o.redrawMs ?? REDRAW_MS) * 1e6) return;
      this.lastDrawNs = now;
      this.stream.write(`\r\x1b[2K${this.ttyLine(now)}`);
      this.drawn = true;
    } else if (Number(now - this.lastLineNs) >= (this.o.everySec ?? PROGRESS_EVERY_SEC) * 1e9) {
      this.lastLineNs = now;
      this.stream.write(`${this.o.label}: ${this.words(now)}\n`);
    }
  }

  tick(n = 1, note?: string): void {
    this.update(this.done + n, note);
  }

  /** Ends the progress line: "label: 36/36 tracks in 3:06" (and `summary` after it); `done` defaults to all. */
  finish(summary?: string, done = this.o.total): void {
    this.done = done;
    const elapsed = Number(this.nowNs() - this.startNs) / 1e9;
    const amount = this.o.amount ?? ((v: number) => String(Math.round(v)));
    if (this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(
      `${this.o.label}: ${amount(this.done)}/${amount(this.o.total)}${this.o.unit ? ` ${this.o.unit}` : ''} in ${formatDuration(elapsed)}${summary ? `; ${summary}` : ''}\n`,
    );
  }

  private words(now: bigint): string {
    return formatProgress({
      done: this.done,
      total: this.o.total,
      elapsedSec: Number(now - this.startNs) / 1e9,
      unit: this.o.unit,
      amount: this.o.amount,
    });
  }

  /** "label [#####·····] 12/36 tracks (33 %), ..., note", cut to the terminal's width. */
  private ttyLine(now: bigint): string {
    const frac = this.o.total > 0 ? Math.min(1, this.done / this.o.total) : 0;
    const filled = Math.round(frac * BAR_CHARS);
    const line = `${this.o.label} [${'#'.repeat(filled)}${'·'.repeat(BAR_CHARS - filled)}] ${this.words(now)}${this.note ? `: ${this.note}` : ''}`;
    const room = Math.max(20, (this.stream.columns ?? 80) - 1);
    const chars = [...line];
    return chars.length <= room ? line : `${chars.slice(0, room - 1).join('')}…`;
  }
}
