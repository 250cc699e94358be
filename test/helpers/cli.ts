import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../../src/service/config.js';
import { tempDir } from './tmp.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A state and a runtime folder of its own per process: no test sees another's saved clock or status
 * socket, none writes the user's, and two tests never trip the one-instance lock of each other.
 */
function privateDirs(): NodeJS.ProcessEnv {
  return {
    XDG_STATE_HOME: tempDir('jas-state-'),
    XDG_RUNTIME_DIR: tempDir('jas-run-'),
  };
}

/**
 * Guards against a hang are multiplied by JAS_TEST_TIMEOUT_SCALE (default 1): under emulation (the
 * arm64 check) a CLI started from source takes ~40 s, not ~2 s, and that is not a hang.
 */
export const TIMEOUT_SCALE = Math.max(1, Number(process.env.JAS_TEST_TIMEOUT_SCALE) || 1);

/**
 * Runs the CLI from source in a child process (as a user would run the bin). `onOutput` sees stdout
 * and stderr as they come: what a test can say of a CLI that has not exited.
 */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; onOutput?: (text: string) => void } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_DIR, 'src/cli/bin.ts'), ...args], {
      // A state directory of its own: no test sees another's saved clock, none writes the user's.
      cwd: PACKAGE_DIR,
      env: { ...process.env, ...privateDirs(), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      opts.onOutput?.(String(d));
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onOutput?.(String(d));
    });
    const timer = setTimeout(
      () => {
        child.kill('SIGKILL');
        reject(new Error(`jaudiosync ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
      },
      (opts.timeoutMs ?? 90_000) * TIMEOUT_SCALE,
    );
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Reads a 16-bit PCM WAV file written by WavFileSink or jack_rec. */
/** One JSON document per line (a CLI's --json stream), each as T. */
export function jsonLines<T>(text: string): T[] {
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as T);
}

export function readWav16(buf: Buffer): { channels: number; sampleRate: number; data: Buffer; frames: number } {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE')
    throw new Error('not a WAV file');
  let off = 12;
  let channels = 0,
    sampleRate = 0,
    bits = 0;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = buf.readUInt16LE(off + 10);
      sampleRate = buf.readUInt32LE(off + 12);
      bits = buf.readUInt16LE(off + 22);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`expected 16-bit PCM, got ${bits}`);
      const data = buf.subarray(off + 8, Math.min(buf.length, off + 8 + size));
      return { channels, sampleRate, data, frames: Math.floor(data.length / (2 * channels)) };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error('WAV file without data');
}

/** A long-running CLI child (the service): its output so far, and a wait for a line matching a pattern. */
export function spawnCli(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_DIR, 'src/cli/bin.ts'), ...args], {
    cwd: PACKAGE_DIR,
    env: { ...process.env, ...privateDirs(), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters])
      if (w.re.test(out)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    child,
    exited,
    get output() {
      return out;
    },
    /** Resolves once the output (from the start) matches; rejects after timeoutMs with the output. */
    waitFor(re: RegExp, timeoutMs = 60_000): Promise<void> {
      if (re.test(out)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const limitMs = timeoutMs * TIMEOUT_SCALE;
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${limitMs} ms:\n${out}`)), limitMs);
        waiters.push({
          re,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void exited.then(() =>
          setTimeout(() => {
            clearTimeout(timer);
            if (!re.test(out)) reject(new Error(`exited before ${re}:\n${out}`));
          }, 50),
        );
      });
    },
  };
}
