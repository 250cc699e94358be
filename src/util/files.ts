import { access, constants, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * File helpers for every layer (drivers, time, player, service, cli may all import this; it imports
 * nothing of the project). Writes that a power cut must not tear, reads that tell "absent" from
 * "broken", and the checks a command makes before it promises to write somewhere.
 */

/**
 * Writes a file so that a power cut leaves either the old or the new content, never a torn one:
 * write a temp file beside it, fsync it, rename it over the target, fsync the directory.
 */
export async function writeFileAtomic(
  path: string,
  content: string,
  opts: { createDir?: boolean; mode?: number } = {},
): Promise<void> {
  if (opts.createDir) await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', opts.mode ?? 0o640);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  const dir = await open(dirname(path), 'r').catch(() => undefined);
  await dir?.sync().catch(() => {});
  await dir?.close();
}

/** The file's text, or undefined when it does not exist (any other error is thrown). */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Why a file cannot be created or appended to at `path`, or undefined when it can: the folder is
 * missing, is not a folder, or is not writable; the path is a folder. For a clear refusal before
 * work starts, instead of a success message over nothing written.
 */
export async function whyNotWritable(path: string): Promise<string | undefined> {
  const dir = dirname(path);
  const d = await stat(dir).catch(() => undefined);
  if (!d) return `its folder ${dir} does not exist (create it first: mkdir -p ${dir})`;
  if (!d.isDirectory()) return `${dir} is not a folder`;
  const f = await stat(path).catch(() => undefined);
  if (f?.isDirectory()) return `${path} is a folder, not a file`;
  try {
    await access(f ? path : dir, constants.W_OK);
  } catch {
    return `${f ? path : dir} is not writable by this user`;
  }
  return undefined;
}

/** Size of a file in bytes, 0 when it does not exist. */
export async function fileSize(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}
