// Runs every benchmark in turn: node --import tsx bench/run-all.ts
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_DIR } from '../src/service/config.js';

for (const b of [
  'decode.ts',
  'nmea.ts',
  'realtime-offset.ts',
  'clock.ts',
  'player.ts',
  'late-join.ts',
  'long-playlist-rss.ts',
  'run.ts',
  'service.ts',
  'calibrate.ts',
  'ride.ts',
]) {
  execFileSync(process.execPath, ['--import', 'tsx', join(PACKAGE_DIR, 'bench', b)], { stdio: 'inherit' });
}
