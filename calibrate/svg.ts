/**
 * Small, dependency-free SVG charts that open in any browser: lines or points, linear or log-log
 * axes with round-number ticks, a title and axis labels. Pure: data in, SVG text out.
 */

export interface Series {
  label: string;
  points: Array<[number, number]>;
  style?: 'line' | 'dots';
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  log?: boolean;
  width?: number;
  height?: number;
  /** Vertical markers (x, label). */
  markers?: Array<[number, string]>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
const M = { left: 78, right: 20, top: 36, bottom: 48 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round-number ticks over [lo, hi]: 1, 2, 5 × 10^k steps, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * p).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

export function chart(series: readonly Series[], o: ChartOptions): string {
  const W = o.width ?? 720, H = o.height ?? 400;
  const tx = (v: number) => (o.log ? Math.log10(v) : v);
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.log || (x > 0 && y > 0)));
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="40">${esc(o.title)}: no data</text></svg>\n`;
  let [x0, x1] = [Math.min(...all.map((p) => tx(p[0]))), Math.max(...all.map((p) => tx(p[0])))];
  let [y0, y1] = [Math.min(...all.map((p) => tx(p[1]))), Math.max(...all.map((p) => tx(p[1])))];
  if (o.log) { x0 = Math.floor(x0); x1 = Math.ceil(x1); y0 = Math.floor(y0); y1 = Math.ceil(y1); }
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  if (!o.log) { const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad; }
  const px = (v: number) => M.left + ((tx(v) - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (v: number) => H - M.bottom - ((tx(v) - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  const xt = o.log ? Array.from({ length: x1 - x0 + 1 }, (_, k) => 10 ** (x0 + k)) : niceTicks(x0, x1);
  const yt = o.log ? Array.from({ length: y1 - y0 + 1 }, (_, k) => 10 ** (y0 + k)) : niceTicks(y0, y1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15">${esc(o.title)}</text>`,
  ];
  for (const v of xt) {
    const x = px(v).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`, `<text x="${x}" y="${H - M.bottom + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const v of yt) {
    const y = py(v).toFixed(1);
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/>`, `<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#333"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  for (const [x, label] of o.markers ?? []) {
    const X = px(x);
    if (X < M.left || X > W - M.right) continue;
    parts.push(`<line x1="${X.toFixed(1)}" x2="${X.toFixed(1)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#999" stroke-dasharray="4 3"/>`, `<text x="${(X + 3).toFixed(1)}" y="${M.top + 12}" fill="#666">${esc(label)}</text>`);
  }
  series.forEach((s, k) => {
    const c = COLORS[k % COLORS.length]!;
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.log || (x > 0 && y > 0)));
    if (s.style === 'dots') {
      for (const [x, y] of pts) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${c}"/>`);
    } else if (pts.length) {
      // Long series are thinned to about one point per pixel column: the file stays small.
      const step = Math.max(1, Math.floor(pts.length / (W * 2)));
      const d = pts.filter((_, i) => i % step === 0 || i === pts.length - 1).map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)} ${py(y).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
    }
    parts.push(`<text x="${M.left + 10}" y="${M.top + 16 + 15 * k}" fill="${c}">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
