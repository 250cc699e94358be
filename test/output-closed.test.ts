import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_DIR } from '../src/service/config.js';
import { tempDir } from './helpers/tmp.js';

/**
 * `jaudiosync gps monitor | head`: the reader closes the pipe after a few lines. The command must
 * stop as on SIGTERM: no EPIPE stack trace, the simulated GPS's temp folder removed, its socat ended.
 */

const TSX = pathToFileURL(join(PACKAGE_DIR, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const BIN = join(PACKAGE_DIR, 'src', 'cli', 'bin.ts');

/** Runs the CLI, reads `lines` lines of its stdout, then closes the pipe as `head` does. */
function headOf(
  dir: string,
  args: string[],
  lines: number,
): Promise<{ code: number | null; stderr: string; read: string }> {
  const env = {
    ...process.env,
    TMPDIR: join(dir, 'tmp'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    XDG_STATE_HOME: join(dir, 'state'),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, BIN, ...args], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let read = '',
      stderr = '';
    child.stdout.on('data', (d) => {
      read += d;
      if (read.split('\n').length > lines) child.stdout.destroy(); // head has what it wanted
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`did not stop after its reader went away\n${read}\n${stderr}`));
    }, 90_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, read });
    });
  });
}

const cases: Array<[string, string[], number]> = [
  ['gps monitor --simulate', ['gps', 'monitor', '--simulate'], 2],
  ['clock monitor', ['clock', 'monitor'], 3],
  ['run (simulated hardware, WAV output)', ['run', '-c', 'c.toml'], 3],
];

for (const [name, args, lines] of cases) {
  test(`${name} | head: stops cleanly, no EPIPE stack, no temp folder or socat left`, async (t) => {
    const dir = tempDir('jas-head-');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    for (const sub of ['tmp', 'run', 'state']) mkdirSync(join(dir, sub));
    writeFileSync(
      join(dir, 'c.toml'),
      `[hardware]\nmode = "simulated"\n[schedule]\nstart = "+30"\n[playlist]\npath = "${join(PACKAGE_DIR, 'Music', 'Playlist.m3u8')}"\n[audio]\noutput = "wav"\nwav_path = "out.wav"\n`,
    );
    const r = await headOf(dir, args, lines);
    t.true(r.read.split('\n').length > lines, `it wrote before the pipe closed: ${r.read}`);
    t.notRegex(r.stderr, /EPIPE|^\s+at .+:\d+:\d+\)?$|Unhandled/m, r.stderr);
    t.deepEqual(
      readdirSync(join(dir, 'tmp')).filter((f) => f.startsWith('jaudiosync-')),
      [],
      'the simulated GPS folder is removed',
    );
    const socat = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('socat') && l.includes(dir));
    t.deepEqual(socat, [], 'socat ended');
  });
}
