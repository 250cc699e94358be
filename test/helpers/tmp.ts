import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh folder under the system's temp dir that is removed when this test process exits: a test run
 * leaves nothing behind (thousands of runs filled /tmp on the CI machine). JAS_KEEP_TMP=1 keeps them
 * (to look at a recording or a log after a failure).
 */
const made: string[] = [];
let hooked = false;

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', removeAll);
  }
  return dir;
}

function removeAll(): void {
  if (process.env.JAS_KEEP_TMP === '1') return;
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A folder a test made unreadable on purpose (as a non-root user) stays: never fail the run for it.
    }
  }
}
