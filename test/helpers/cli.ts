import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../../src/service/config.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from source in a child process (as a user would run the bin). */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_DIR, 'src/cli/bin.ts'), ...args], {
      // A state directory of its own: no test sees another's saved clock, none writes the user's.
      cwd: PACKAGE_DIR, env: { ...process.env, XDG_STATE_HOME: mkdtempSync(join(tmpdir(), 'jas-state-')), ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`jaudiosync ${args.join(' ')} timed out\n${stdout}\n${stderr}`)); }, opts.timeoutMs ?? 90_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Reads a 16-bit PCM WAV file written by WavFileSink or jack_rec. */
export function readWav16(buf: Buffer): { channels: number; sampleRate: number; data: Buffer; frames: number } {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV file');
  let off = 12;
  let channels = 0, sampleRate = 0, bits = 0;
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
