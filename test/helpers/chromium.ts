import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tempDir } from './tmp.js';

/**
 * Opens pages in headless Chromium (Debian's `chromium`) and returns what a probe measured there.
 * Each page is loaded in an iframe of the exact width asked (a headless window cannot be narrower
 * than 500 px, a phone is 390): its horizontal overflow and its images; SVG files are also drawn
 * inline so that the bounding box of every text can be compared with every other. One browser start
 * for everything; no npm browser: the probe writes its JSON into the DOM that --dump-dom prints.
 * A missing browser is an error that says how to install it (a test must fail, not skip).
 */

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export function requireChromium(): string {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `headless Chromium is needed for this test and ${CHROMIUM} does not exist: apt-get install -y chromium (scripts/setup.sh installs it), or set CHROMIUM=/path/to/chrome`,
    );
  return CHROMIUM;
}

export interface FrameResult {
  src: string;
  width: number;
  innerWidth: number;
  scrollWidth: number;
  /** Loaded images (a phone width gets the phone drawing): the one shown, its width on the page. */
  images: Array<{ src: string; width: number; naturalWidth: number }>;
}
export interface SvgResult {
  file: string;
  texts: number;
  overlaps: Array<{ a: string; b: string }>;
  outside: string[];
}
export interface Probe {
  frames: FrameResult[];
  svgs: SvgResult[];
}

const PROBE = `<script>
addEventListener('load', () => {
  const inter = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const frames = [...document.querySelectorAll('iframe')].map((f) => {
    const w = f.contentWindow, d = f.contentDocument;
    return { src: f.getAttribute('src'), width: Number(f.getAttribute('width')), innerWidth: w.innerWidth, scrollWidth: d.documentElement.scrollWidth,
      images: [...d.images].map((i) => ({ src: (i.currentSrc || i.src).split('/').pop(), width: i.getBoundingClientRect().width, naturalWidth: i.naturalWidth })) };
  });
  const svgs = [...document.querySelectorAll('svg[data-file]')].map((svg) => {
    const texts = [...svg.querySelectorAll('text')].filter((t) => t.textContent.trim());
    const boxes = texts.map((t) => t.getBoundingClientRect());
    const overlaps = [];
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) if (inter(boxes[i], boxes[j])) overlaps.push({ a: texts[i].textContent, b: texts[j].textContent });
    const r = svg.getBoundingClientRect();
    const outside = texts.filter((t, i) => boxes[i].left < r.left - 1 || boxes[i].right > r.right + 1 || boxes[i].top < r.top - 1 || boxes[i].bottom > r.bottom + 1).map((t) => t.textContent);
    return { file: svg.getAttribute('data-file'), texts: texts.length, overlaps, outside };
  });
  const pre = document.createElement('pre');
  pre.id = 'jas-probe';
  pre.textContent = JSON.stringify({ frames, svgs });
  document.body.appendChild(pre);
});
</script>`;

/**
 * Loads each page at its width and draws each SVG file inline at its own drawing width.
 * Everything must live under `dir` (the probe page is written there; file:// frames need one origin).
 */
export async function probe(
  dir: string,
  pages: ReadonlyArray<{ file: string; width: number }>,
  svgFiles: readonly string[] = [],
): Promise<Probe> {
  const bin = requireChromium();
  const frames = pages.map(
    (p) =>
      `<iframe src="${relative(dir, p.file)}" width="${p.width}" height="800" style="border:0;display:block"></iframe>`,
  );
  const svgs = svgFiles.map((f) =>
    readFileSync(f, 'utf8')
      .replace('<svg ', `<svg data-file="${relative(dir, f)}" `)
      .replace('style="max-width:100%;height:auto"', 'style="display:block"'),
  );
  const page = join(dir, `.probe-${process.pid}.html`);
  writeFileSync(
    page,
    `<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0}</style></head><body>${frames.join('\n')}\n${svgs.join('\n')}${PROBE}</body></html>`,
  );
  const profile = tempDir('jas-chromium-');
  const widest = pages.reduce((a, p) => Math.max(a, p.width), 800);
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        bin,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          '--allow-file-access-from-files',
          `--user-data-dir=${profile}`,
          '--hide-scrollbars',
          `--window-size=${widest + 40},900`,
          '--virtual-time-budget=10000',
          '--dump-dom',
          `file://${page}`,
        ],
        { timeout: 90_000, maxBuffer: 64 << 20 },
        (err, out, errText) => (err ? reject(new Error(`chromium failed: ${err.message}\n${errText}`)) : resolve(out)),
      );
    });
    const m = /<pre id="jas-probe">([\s\S]*?)<\/pre>/.exec(stdout);
    if (!m) throw new Error(`the probe did not run in chromium (no result in the DOM):\n${stdout.slice(0, 2000)}`);
    return JSON.parse(
      m[1]!
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&'),
    ) as Probe;
  } finally {
    rmSync(page, { force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}
