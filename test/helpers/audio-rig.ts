import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../../src/service/config.js';
import { tempDir } from './tmp.js';

/**
 * The JACK + ALSA-jack-plugin rig (scripts/audio-rig.sh) for tests: its own folder and HOME, so
 * ALSA reads the rig's .asoundrc and never the user's. A missing jackd is a failure with a hint,
 * not a skip: the audio path is what these tests exist to check.
 */
export interface AudioRig {
  dir: string;
  home: string;
  stop(): void;
}

const script = join(PACKAGE_DIR, 'scripts', 'audio-rig.sh');

/** `periodFrames`: JACK's period (the script's default is 256; the benches measure at 1024, `-R`). */
export function startAudioRig(opts: { periodFrames?: number } = {}): AudioRig {
  for (const tool of ['jackd', 'jack_lsp', 'jack_rec', 'pulseaudio', 'pactl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(
        `${tool} is not installed: run scripts/setup.sh (apt packages jackd2, pulseaudio, pulseaudio-utils)`,
      );
    }
  }
  const dir = tempDir('jas-rig-');
  const env = opts.periodFrames ? { ...process.env, RIG_PERIOD: String(opts.periodFrames) } : process.env;
  execFileSync('bash', [script, 'start', dir], { stdio: 'inherit', env });
  return {
    dir,
    home: join(dir, 'home'),
    stop: () => {
      execFileSync('bash', [script, 'stop', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** JACK output ports of clients other than the server itself (a player's out_000, out_001...). */
export function playerPorts(): string[] {
  const r = spawnSync('jack_lsp', [], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((p) => /:out_\d+$/.test(p) && !p.startsWith('system:'));
}
