import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A linked pair of pseudo-terminals made by socat: what one side writes, the other reads. The GPS
 * twin writes NMEA into one end while serialport opens the other, as it would /dev/serial0.
 */
export class PtyPair {
  private constructor(
    readonly devicePath: string,
    readonly emulatorPath: string,
    private readonly proc: ChildProcess,
  ) {}

  /** dir gets two symlinks, gps-device (for the driver) and gps-emulator (for the twin). */
  static async create(dir: string, timeoutMs = 5_000): Promise<PtyPair> {
    const devicePath = join(dir, 'gps-device');
    const emulatorPath = join(dir, 'gps-emulator');
    let proc: ChildProcess;
    try {
      // Its own process group: a Ctrl-C or SIGTERM to ours must not cut the "cable" before we
      // close the port ourselves; killed with us on exit all the same.
      proc = spawn('socat', [`pty,raw,echo=0,link=${devicePath}`, `pty,raw,echo=0,link=${emulatorPath}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
      });
      const p = proc;
      const killOnExit = () => {
        try {
          p.kill('SIGTERM');
        } catch {
          /* gone */
        }
      };
      process.once('exit', killOnExit);
      p.once('exit', () => process.off('exit', killOnExit));
    } catch (e) {
      throw new Error(
        `cannot start socat for the simulated GPS: ${(e as Error).message}. Install it: apt-get install socat`,
      );
    }
    let stderr = '';
    proc.stderr!.on('data', (d) => {
      stderr += d;
    });
    const spawnError = new Promise<never>((_, reject) =>
      proc.on('error', (e) =>
        reject(
          new Error(
            `cannot start socat for the simulated GPS (${(e as NodeJS.ErrnoException).code}). Install it: apt-get install socat`,
          ),
        ),
      ),
    );
    const deadline = Date.now() + timeoutMs;
    const ready = (async () => {
      while (!(existsSync(devicePath) && existsSync(emulatorPath))) {
        if (proc.exitCode !== null) throw new Error(`socat exited (${proc.exitCode}): ${stderr.trim()}`);
        if (Date.now() > deadline) throw new Error(`socat made no pty pair within ${timeoutMs} ms: ${stderr.trim()}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await Promise.race([ready, spawnError]);
    return new PtyPair(realpathSync(devicePath), realpathSync(emulatorPath), proc);
  }

  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.kill('SIGTERM');
    await exited;
  }
}
