/**
 * The project's one SVG chart: dependency-free plots that open in any browser and scale to a phone
 * (viewBox, no fixed width in a page). Lines with gaps, dots, error bars, shaded spans with labels,
 * reference-slope guides on log-log axes, and a legend. Every label is placed by one layout: span
 * labels in lanes above the plot, the legend in rows below it, so no label lands on another or on
 * the legend; text width is estimated (TEXT_EM_WIDTH) generously. Pure: data in, SVG text out.
 * Used by `calibrate report` and `simulate ride --svg`.
 */

export interface Series {
  label: string;
  /** [x, y] pairs; a non-finite y breaks a line (a gap). */
  points: ReadonlyArray<readonly [number, number]>;
  style?: 'line' | 'dots';
  color?: string;
  dashed?: boolean;
  /** [x, lo, hi]: a vertical error bar at x. */
  errorBars?: ReadonlyArray<readonly [number, number, number]>;
  /** Shown in the legend after the label, greyed: e.g. "silent". */
  note?: string;
}

export interface Span {
  x0: number;
  x1: number;
  label: string;
  /** Fill colour (light); default grey. */
  color?: string;
}

export interface Guide {
  /** A line of this log-log slope through `through`. */
  slope: number;
  through: readonly [number, number];
  label: string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  log?: boolean;
  /** The y axis starts at 0 (linear axes). */
  yFromZero?: boolean;
  width?: number;
  height?: number;
  spans?: readonly Span[];
  /** Point events: a dashed vertical line with a label (in the span lanes). */
  markers?: ReadonlyArray<readonly [number, string]>;
  guides?: readonly Guide[];
}

export const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
];
const SPAN_COLORS = ['#fde2b5', '#d6e9f8', '#e4d9f2', '#d8f0d2', '#f7d4d4'];
/** Average advance of a sans-serif character, in em: 0.6 overestimates most text (safe for overlap). */
export const TEXT_EM_WIDTH = 0.6;
const FONT = 13;
const TITLE_FONT = 15;
const LANE = 17;
const LEGEND_ROW = 18;

export const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
export const textWidth = (s: string, size = FONT) => [...s].length * TEXT_EM_WIDTH * size;

/** Round-number ticks over [lo, hi]: 1, 2, 5 × 10^k steps, at most `count` + 1 of them. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * p).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const SUP: Record<string, string> = {
  '-': '⁻',
  0: '⁰',
  1: '¹',
  2: '²',
  3: '³',
  4: '⁴',
  5: '⁵',
  6: '⁶',
  7: '⁷',
  8: '⁸',
  9: '⁹',
};
function fmtTick(v: number, log: boolean): string {
  if (log) {
    const k = Math.round(Math.log10(v));
    return k >= 0 && k <= 3 ? String(10 ** k) : `10${[...String(k)].map((c) => SUP[c] ?? c).join('')}`;
  }
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

/** A number for SVG: never NaN or Infinity in the output (a non-finite one is a bug: thrown). */
function n(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`internal: a non-finite coordinate (${v}) in a chart`);
  return v.toFixed(1);
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}
const overlaps = (a: Box, b: Box) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/**
 * Span and marker labels in lanes above the plot: each starts (or, if that collides, ends) at its
 * anchor's x, with a swatch of its span's colour, in the lowest lane where it touches no other label.
 * No leader lines: nothing crosses a label.
 */
function laneLabels(
  items: ReadonlyArray<{ x: number; label: string }>,
  left: number,
  right: number,
): Array<{ x: number; lane: number; label: string }> {
  const placed: Array<{ box: Box; lane: number }> = [];
  return items.map((it) => {
    const w = SWATCH + textWidth(it.label) + 8;
    const at = (x: number): Box => ({ x: Math.max(left, Math.min(right - w, x)), y: 0, w, h: 1 });
    const candidates = [at(it.x), at(it.x - w)];
    for (let lane = 0; ; lane++) {
      const box = candidates.find((c) => !placed.some((p) => p.lane === lane && overlaps(p.box, c)));
      if (box) {
        placed.push({ box, lane });
        return { x: box.x, lane, label: it.label };
      }
    }
  });
}
/** The colour key before a lane label (px). */
const SWATCH = 14;

/** Legend entries flowing in rows under the plot; one too long for a row is wrapped onto rows of its own. */
function legendRows(
  entries: ReadonlyArray<{ text: string }>,
  left: number,
  right: number,
): Array<{ x: number; row: number; lines: string[] }> {
  let x = left,
    row = 0;
  return entries.map((e) => {
    const lines = wrapText(e.text, right - left - 22 - 4);
    const w = 22 + lines.reduce((m, l) => Math.max(m, textWidth(l)), 0) + 16;
    if (x > left && (x + w > right || lines.length > 1)) {
      row++;
      x = left;
    }
    const at = { x, row, lines };
    if (lines.length > 1) {
      row += lines.length;
      x = left;
    } else x += w;
    return at;
  });
}

/** Min and max of each pixel column, in order: a long line keeps its envelope at a few points per pixel. */
function decimate(
  pts: ReadonlyArray<readonly [number, number]>,
  px: (v: number) => number,
  columns: number,
): Array<readonly [number, number]> {
  if (pts.length <= columns * 4) return pts as Array<readonly [number, number]>;
  const out: Array<readonly [number, number]> = [];
  let col = NaN,
    lo: readonly [number, number] | undefined,
    hi: readonly [number, number] | undefined;
  const flush = () => {
    if (lo && hi) {
      if (lo[0] <= hi[0]) out.push(lo, hi);
      else out.push(hi, lo);
    }
    lo = hi = undefined;
  };
  for (const p of pts) {
    if (!Number.isFinite(p[1])) {
      flush();
      out.push(p);
      col = NaN;
      continue;
    }
    const c = Math.floor(px(p[0]));
    if (c !== col) {
      flush();
      col = c;
    }
    if (!lo || p[1] < lo[1]) lo = p;
    if (!hi || p[1] > hi[1]) hi = p;
  }
  flush();
  return out;
}

/** The text cut with an ellipsis to fit maxWidth (the whole label stays in the element's <title>). */
export function ellipsize(text: string, maxWidth: number, size = FONT): string {
  if (textWidth(text, size) <= maxWidth) return text;
  const chars = [...text];
  return chars.slice(0, Math.max(1, Math.floor(maxWidth / (TEXT_EM_WIDTH * size)) - 1)).join('') + '…';
}

/** Words into lines no wider than maxWidth (a single long word stays whole). */
export function wrapText(text: string, maxWidth: number, size = FONT): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(' ')) {
    const next = cur ? `${cur} ${w}` : w;
    if (cur && textWidth(next, size) > maxWidth) {
      lines.push(cur);
      cur = w;
    } else cur = next;
  }
  if (cur) lines.push(cur);
  return lines;
}

function extent(values: Iterable<number>): [number, number] {
  let lo = Infinity,
    hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

export function chart(series: readonly Series[], o: ChartOptions): string {
  const W = o.width ?? 720;
  const log = Boolean(o.log);
  const ok = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && (!log || (x > 0 && y > 0));
  const tx = (v: number) => (log ? Math.log10(v) : v);
  const xs: number[] = [],
    ys: number[] = [];
  for (const s of series) {
    for (const [x, y] of s.points)
      if (ok(x, y)) {
        xs.push(tx(x));
        ys.push(tx(y));
      }
    for (const [x, lo, hi] of s.errorBars ?? [])
      if (ok(x, lo) && ok(x, hi)) {
        ys.push(tx(lo), tx(hi));
      }
  }
  for (const sp of o.spans ?? []) if (Number.isFinite(sp.x0) && Number.isFinite(sp.x1)) xs.push(tx(sp.x0), tx(sp.x1));
  const titleLines = wrapText(o.title, W - 20, TITLE_FONT);
  const title = titleLines
    .map(
      (l, i) =>
        `<text class="title" x="${n(W / 2)}" y="${20 + i * 18}" text-anchor="middle" font-size="${TITLE_FONT}" font-weight="bold">${esc(l)}</text>`,
    )
    .join('\n');
  const titleExtra = (titleLines.length - 1) * 18;
  if (ys.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} 80" width="${W}" height="80" style="max-width:100%;height:auto" font-family="sans-serif" font-size="${FONT}">\n<rect width="${W}" height="80" fill="white"/>\n${title}\n<text x="20" y="55">no data to plot</text>\n</svg>\n`;
  }
  let [x0, x1] = extent(xs);
  let [y0, y1] = extent(ys);
  if (log) {
    x0 = Math.floor(x0);
    x1 = Math.ceil(x1);
    y0 = Math.floor(y0);
    y1 = Math.ceil(y1);
  }
  if (o.yFromZero && !log) {
    y0 = Math.min(0, y0);
  }
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  if (y1 === y0) {
    y1 += y0 === 0 ? 1 : Math.abs(y0) * 0.1;
  }
  const yt = log
    ? Array.from({ length: y1 - y0 + 1 }, (_, k) => 10 ** (y0 + k))
    : niceTicks(y0, y1 + (y1 - y0) * 0.04, 6);
  if (!log) y1 = Math.max(y1, yt.at(-1)!); // the top tick closes the axis: no data above the last label
  // Left margin: the widest y tick label.
  const yLabels = yt.map((v) => fmtTick(v, log));
  const left = 30 + yLabels.reduce((a, l) => Math.max(a, textWidth(l)), 0) + 8;
  const right = W - 16;
  // Lanes for span and marker labels between the title and the plot.
  const laneItems = [
    ...(o.spans ?? []).map((s) => ({ at: s.x0, label: s.label })),
    ...(o.markers ?? []).map(([x, label]) => ({ at: x, label })),
  ].map((l) => ({ ...l, label: ellipsize(l.label, right - left - 10) }));
  const pxRaw = (v: number) => left + ((tx(v) - x0) / (x1 - x0)) * (right - left);
  const lanes = laneLabels(
    laneItems.map((l) => ({ x: pxRaw(l.at), label: l.label })),
    left,
    right,
  );
  const laneCount = lanes.reduce((a, l) => Math.max(a, l.lane + 1), 0);
  const top = 34 + titleExtra + laneCount * LANE + (laneCount ? 4 : 0);
  const plotH = o.height ?? 300;
  const bottom = top + plotH;
  // Legend under the x axis title.
  const entries = [
    ...series.map((s, k) => ({
      text: `${s.label}${s.note ? ` (${s.note})` : ''}`,
      color: s.color ?? COLORS[k % COLORS.length]!,
      dashed: s.dashed,
      dots: s.style === 'dots',
    })),
  ];
  const legend = legendRows(entries, left, right);
  const legendTop = bottom + 60; // below the x axis title's box (baseline bottom + 34, descenders)
  const rows = legend.reduce((m, l) => Math.max(m, l.row + l.lines.length), 0);
  const H = legendTop + rows * LEGEND_ROW + 6;
  const px = pxRaw;
  const py = (v: number) => bottom - ((tx(v) - y0) / (y1 - y0)) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${n(H)}" width="${W}" height="${n(H)}" style="max-width:100%;height:auto" font-family="sans-serif" font-size="${FONT}">`,
    `<rect width="${W}" height="${n(H)}" fill="white"/>`,
    title,
    `<defs><clipPath id="plot"><rect x="${n(left)}" y="${n(top)}" width="${n(right - left)}" height="${n(plotH)}"/></clipPath></defs>`,
  ];
  // Spans first (under everything), each with its label in a lane.
  (o.spans ?? []).forEach((s, k) => {
    const a = Math.max(left, px(s.x0)),
      b = Math.min(right, px(s.x1));
    if (b > a)
      parts.push(
        `<rect class="span" x="${n(a)}" y="${n(top)}" width="${n(Math.max(1, b - a))}" height="${n(plotH)}" fill="${s.color ?? SPAN_COLORS[k % SPAN_COLORS.length]}" opacity="0.8"><title>${esc(s.label)}</title></rect>`,
      );
  });
  const xt = log
    ? Array.from({ length: x1 - x0 + 1 }, (_, k) => 10 ** (x0 + k))
    : niceTicks(x0, x1, Math.max(2, Math.floor((right - left) / 90)));
  for (const v of xt) {
    const x = px(v);
    if (x < left - 0.5 || x > right + 0.5) continue;
    parts.push(
      `<line x1="${n(x)}" x2="${n(x)}" y1="${n(top)}" y2="${n(bottom)}" stroke="#e5e5e5"/>`,
      `<text class="tick" x="${n(x)}" y="${n(bottom + 16)}" text-anchor="middle">${esc(fmtTick(v, log))}</text>`,
    );
  }
  yt.forEach((v, i) => {
    const y = py(v);
    parts.push(
      `<line x1="${n(left)}" x2="${n(right)}" y1="${n(y)}" y2="${n(y)}" stroke="#e5e5e5"/>`,
      `<text class="tick" x="${n(left - 6)}" y="${n(y + 4)}" text-anchor="end">${esc(yLabels[i]!)}</text>`,
    );
  });
  parts.push(
    `<rect x="${n(left)}" y="${n(top)}" width="${n(right - left)}" height="${n(plotH)}" fill="none" stroke="#333"/>`,
    `<text class="axis-label" x="${n((left + right) / 2)}" y="${n(bottom + 34)}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text class="axis-label" transform="translate(14 ${n((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  for (const [x, label] of o.markers ?? []) {
    const X = px(x);
    if (X >= left && X <= right)
      parts.push(
        `<line class="marker" x1="${n(X)}" x2="${n(X)}" y1="${n(top)}" y2="${n(bottom)}" stroke="#777" stroke-dasharray="4 3"><title>${esc(label)}</title></line>`,
      );
  }
  lanes.forEach((l, k) => {
    const y = 34 + titleExtra + l.lane * LANE + 12;
    const span = k < (o.spans?.length ?? 0) ? o.spans![k] : undefined;
    const key = span
      ? `<rect x="${n(l.x)}" y="${n(y - 10)}" width="10" height="10" fill="${span.color ?? SPAN_COLORS[k % SPAN_COLORS.length]}" stroke="#999"/>`
      : `<line x1="${n(l.x + 5)}" x2="${n(l.x + 5)}" y1="${n(y - 11)}" y2="${n(y + 1)}" stroke="#777" stroke-dasharray="3 2"/>`;
    parts.push(`${key}<text class="span-label" x="${n(l.x + SWATCH)}" y="${n(y)}" fill="#333">${esc(l.label)}</text>`);
  });
  parts.push(...guideLines(o.guides ?? [], px, py, left, right, top, bottom, log));
  parts.push('<g clip-path="url(#plot)">');
  series.forEach((s, k) => parts.push(...seriesSvg(s, entries[k]!.color, px, py, ok, Math.ceil(right - left))));
  parts.push('</g>');
  entries.forEach((e, k) => {
    const at = legend[k]!;
    const y = legendTop + at.row * LEGEND_ROW;
    const swatch = e.dots
      ? `<circle cx="${n(at.x + 9)}" cy="${n(y - 4)}" r="3" fill="${e.color}"/>`
      : `<line x1="${n(at.x)}" x2="${n(at.x + 18)}" y1="${n(y - 4)}" y2="${n(y - 4)}" stroke="${e.color}" stroke-width="2.5"${e.dashed ? ' stroke-dasharray="5 3"' : ''}/>`;
    const text = at.lines
      .map((l, i) => `<text class="legend" x="${n(at.x + 22)}" y="${n(y + i * LEGEND_ROW)}">${esc(l)}</text>`)
      .join('');
    parts.push(`<g class="legend-item">${swatch}${text}</g>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function seriesSvg(
  s: Series,
  color: string,
  px: (v: number) => number,
  py: (v: number) => number,
  ok: (x: number, y: number) => boolean,
  columns: number,
): string[] {
  const out: string[] = [];
  const label = `<title>${esc(s.label)}</title>`;
  if (s.style === 'dots') {
    const dots = s.points
      .filter(([x, y]) => ok(x, y))
      .map(([x, y]) => `<circle cx="${n(px(x))}" cy="${n(py(y))}" r="2.5"/>`);
    if (dots.length)
      out.push(`<g class="series" data-label="${esc(s.label)}" fill="${color}">${label}${dots.join('')}</g>`);
  } else {
    let d = '',
      pen = false;
    for (const [x, y] of decimate(s.points, px, columns)) {
      if (!ok(x, y)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${n(px(x))} ${n(py(y))}`;
      pen = true;
    }
    if (d)
      out.push(
        `<path class="series" data-label="${esc(s.label)}" d="${d}" fill="none" stroke="${color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''}>${label}</path>`,
      );
  }
  const bars = (s.errorBars ?? [])
    .filter(([x, lo, hi]) => ok(x, lo) && ok(x, hi))
    .map(([x, lo, hi]) => {
      const X = px(x);
      return `M${n(X)} ${n(py(lo))}V${n(py(hi))}M${n(X - 3)} ${n(py(lo))}h6M${n(X - 3)} ${n(py(hi))}h6`;
    });
  if (bars.length)
    out.push(
      `<path class="error-bars" data-label="${esc(s.label)}" d="${bars.join('')}" stroke="${color}" stroke-width="1" fill="none"/>`,
    );
  return out;
}

/**
 * Reference slopes on log-log axes: grey lines through a point, each labelled where it leaves the plot (labels that
 * would collide are left to the caption).
 */
function guideLines(
  guides: readonly Guide[],
  px: (v: number) => number,
  py: (v: number) => number,
  left: number,
  right: number,
  top: number,
  bottom: number,
  log: boolean,
): string[] {
  if (!log || guides.length === 0) return [];
  const out: string[] = ['<g class="guides" stroke="#9a9a9a" stroke-dasharray="2 3" clip-path="url(#plot)">'];
  const labels: string[] = [];
  const placed: Box[] = [];
  for (const g of guides) {
    const [gx, gy] = g.through;
    if (!(gx > 0 && gy > 0)) continue;
    const X0 = px(gx),
      Y0 = py(gy);
    // The line in pixels: log-log slope s is dy/dx = -s * (plotH/decadesY)/(plotW/decadesX); take two far points.
    const at = (x: number) => py(gy * (x / gx) ** g.slope);
    const xa = gx / 1e6,
      xb = gx * 1e6;
    out.push(`<line x1="${n(px(xa))}" y1="${n(at(xa))}" x2="${n(px(xb))}" y2="${n(at(xb))}"/>`);
    // Where it leaves the plot on the right, or through the top/bottom edge first.
    let ex = right,
      ey = Y0 + ((at(gx * 10) - Y0) / (px(gx * 10) - X0)) * (right - X0);
    if (ey < top || ey > bottom) {
      ey = ey < top ? top : bottom;
      ex = X0 + ((ey - Y0) * (px(gx * 10) - X0)) / (at(gx * 10) - Y0);
    }
    const w = textWidth(g.label, 11) + 4;
    const box: Box = { x: Math.min(ex, right - w) - 2, y: Math.max(top + 2, Math.min(bottom - 14, ey - 12)), w, h: 13 };
    if (!Number.isFinite(box.x) || !Number.isFinite(box.y) || box.x < left || placed.some((b) => overlaps(b, box)))
      continue;
    placed.push(box);
    labels.push(
      `<text class="guide-label" x="${n(box.x + 2)}" y="${n(box.y + 10)}" font-size="11" fill="#666">${esc(g.label)}</text>`,
    );
  }
  out.push('</g>', ...labels);
  return out;
}

/** The unit that fits values up to maxUs: µs below 1 ms, ms below 10 s, else s. */
export function timeUnitFor(maxUs: number): { unit: 'µs' | 'ms' | 's'; perUs: number } {
  if (!(maxUs >= 1000)) return { unit: 'µs', perUs: 1 };
  if (maxUs < 10_000_000) return { unit: 'ms', perUs: 1e-3 };
  return { unit: 's', perUs: 1e-6 };
}
