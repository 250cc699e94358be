import { readFileSync } from 'node:fs';
import { lstat, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One service per state and runtime folder: two would both play, both write clock.json and the WAV,
 * and on a Pi both would open the GPS port and set the RTC. A pid file created exclusively in each
 * folder is the lock; it "dies with the process" because a file whose pid is no longer a running
 * jaudiosync is stale and taken over. The second instance writes nothing before it finds the lock.
 */

export const PID_FILE = 'jaudiosync.pid';

export class AlreadyRunningError extends Error {
  constructor(
    readonly pid: number,
    readonly dir: string,
  ) {
    super(`already running (pid ${pid}) on ${dir}: stop it first (systemctl stop jaudiosync, or kill ${pid})`);
    this.name = 'AlreadyRunningError';
  }
}

export interface InstanceLock {
  release(): Promise<void>;
}

/** Why a folder could not be made, in words (the code stays for whoever searches it). */
function folderFault(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const words: Record<string, string> = {
    EACCES: 'this user may not write there',
    EPERM: 'this user may not write there',
    EEXIST: 'a file of that name is in the way',
    ENOTDIR: 'part of the path is a file, not a folder',
    EROFS: 'the file system is read-only',
    ENOSPC: 'the disk is full',
  };
  return words[code] ? `${words[code]} (${code})` : (e as Error).message;
}

/** mkdir -p, or an error naming the folder, what is wrong, and `fix`: what to change. */
export async function makeFolder(dir: string, what: string, fix: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o750 });
  } catch (e) {
    throw new Error(`cannot create the ${what} ${dir}: ${folderFault(e)}; ${fix}`);
  }
}

/** Takes the lock in every folder (created if missing), or throws AlreadyRunningError naming the holder. */
export async function acquireInstanceLock(dirs: string[], pid = process.pid): Promise<InstanceLock> {
  const unique = [...new Set(dirs)];
  for (const dir of unique) {
    const holder = await runningHolder(join(dir, PID_FILE));
    if (holder !== undefined && holder !== pid) throw new AlreadyRunningError(holder, dir);
  }
  const taken: string[] = [];
  try {
    for (const dir of unique) taken.push(await takeOne(dir, pid));
  } catch (e) {
    await Promise.all(taken.map((p) => unlink(p).catch(() => {})));
    throw e;
  }
  return {
    release: async () => {
      await Promise.all(taken.map((p) => removeIfOurs(p, pid)));
    },
  };
}

async function takeOne(dir: string, pid: number): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const path = join(dir, PID_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(`${pid}\n`);
      await fh.close();
      return path;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new Error(`cannot create the lock ${path}: ${(e as Error).message}`);
      const holder = await runningHolder(path);
      if (holder !== undefined && holder !== pid) throw new AlreadyRunningError(holder, dir);
      await unlink(path).catch(() => {}); // stale: its process is gone
    }
  }
  throw new Error(`cannot take the lock ${path}: another process keeps recreating it`);
}

/** The pid in a lock file when that process is a running jaudiosync, else undefined. */
async function runningHolder(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return isJaudiosync(pid) ? pid : undefined;
}

function isJaudiosync(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false; // no such process
  }
  try {
    // Installed it runs as .../jaudiosync/bin/jaudiosync.js; from a clone as src/cli/bin.ts or dist/.
    return /jaudiosync|cli\/bin\.[jt]s/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // alive but unreadable (another user): assume it is ours rather than play twice
  }
}

async function removeIfOurs(path: string, pid: number): Promise<void> {
  try {
    if (Number((await readFile(path, 'utf8')).trim()) === pid) await unlink(path);
  } catch {
    /* already gone */
  }
}

/**
 * A runtime folder we create under /tmp must be ours and private: another user could have made it
 * first (0777) to read or replace our socket. Refuses anything else, saying what to do.
 */
export async function ensurePrivateDir(dir: string, uid = process.getuid?.()): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const st = await lstat(dir);
  if (!st.isDirectory())
    throw new Error(`runtime folder ${dir} is not a folder (a symlink?): remove it, or set service.runtime_dir`);
  if (uid !== undefined && st.uid !== uid)
    throw new Error(
      `runtime folder ${dir} belongs to user ${st.uid}, not to us (${uid}): remove it, or set service.runtime_dir`,
    );
  if ((st.mode & 0o022) !== 0)
    throw new Error(
      `runtime folder ${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}): remove it, or set service.runtime_dir`,
    );
}
