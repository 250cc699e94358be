import { esc } from './svg.js';

/**
 * The page around the project's reports (calibrate report, ride report): one column that reads on
 * a phone (viewport meta, images and tables never wider than the screen, long words wrap) and on a
 * desktop (at most ~60 em wide). No scripts, no external resources: it opens from a file.
 */

const CSS = `
*{box-sizing:border-box}
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;padding:12px;max-width:62em;color:#1b1b1b;overflow-wrap:break-word}
p,li,td.long,figcaption{overflow-wrap:anywhere}
h1{font-size:1.45em;margin:.4em 0}h2{font-size:1.2em;margin:1.4em 0 .4em}h3{font-size:1.05em;margin:1em 0 .3em}
figure{margin:1em 0}figure img{display:block;width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.92em;color:#333;margin-top:.35em}
.verdict{border-left:4px solid #1f77b4;background:#f3f7fb;padding:.5em .8em;margin:.6em 0}
.verdict.warn{border-color:#d62728;background:#fbf1f1}
.muted{color:#555;font-size:.92em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.5em 0}
th,td{border-bottom:1px solid #ddd;padding:.3em .4em;text-align:left;vertical-align:top}
td.num{text-align:right;white-space:nowrap}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.6em;font-size:.85em}
ul{padding-left:1.2em}
@media (max-width:600px){body{font-size:15px;padding:8px}
 table,tbody,tr,td{display:block;width:100%}thead{display:none}
 tr{border-bottom:1px solid #bbb;padding:.3em 0}td{border:0;padding:.1em 0}td.num{text-align:left;white-space:normal}
 td::before{content:attr(data-label) ": ";font-weight:600;color:#444}}
`;

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
${body}
</body></html>
`;
}

/** Charts are drawn twice: for a desktop column, and narrower for a phone (its text then stays full size). */
export const DESKTOP_WIDTH = 720;
export const PHONE_WIDTH = 380;
export const phoneName = (svg: string) => svg.replace(/\.svg$/, '-phone.svg');

/**
 * A figure: the chart (its phone drawing on narrow screens; linked to itself, for zooming) and
 * what it shows and how to read it (caption: HTML, the caller escapes).
 */
export function figure(src: string, alt: string, caption: string): string {
  return `<figure><a href="${esc(src)}"><picture><source media="(max-width: 600px)" srcset="${esc(phoneName(src))}"><img src="${esc(src)}" alt="${esc(alt)}"></picture></a><figcaption>${caption}</figcaption></figure>`;
}

/**
 * A table; cells are text (escaped), a number-like cell is right-aligned. On a phone each row becomes
 * a card (every cell on its own line, labelled with its column): no table is wider than the screen.
 */
export function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const numeric = (c: string) => /^[-+−]?[\d.,]+\s*(µs|ms|s|%|ppm)?$/.test(c.trim());
  const cls = (c: string) => (numeric(c) ? ' class="num"' : c.length > 40 ? ' class="long"' : '');
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c, i) => `<td data-label="${esc(head[i] ?? '')}"${cls(c)}>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

export { esc };
