import { chmod, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';

/**
 * The status endpoint: a unix socket that answers every connection with one JSON document and
 * closes. No network listener. The socket is 0660 in a 0750 folder: the service's user and group
 * read it, nobody else.
 */

export const STATUS_SOCKET = 'status.sock';

export async function startStatusServer(dir: string, snapshot: () => unknown): Promise<{ path: string; close(): Promise<void> }> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const path = join(dir, STATUS_SOCKET);
  if (await answers(path)) throw new Error(`another jaudiosync is already serving ${path}: stop it first (systemctl stop jaudiosync)`);
  await unlink(path).catch(() => {}); // a stale socket from a crash
  const server: Server = createServer((c) => {
    c.on('error', () => {});
    c.end(JSON.stringify(snapshot()) + '\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o660);
  return {
    path,
    close: () => new Promise<void>((resolve) => server.close(() => { void unlink(path).catch(() => {}); resolve(); })),
  };
}

/** Reads the status from a socket; rejects naming the socket when nothing answers. */
export function readStatus(path: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = connect(path);
    let text = '';
    const timer = setTimeout(() => { c.destroy(); reject(new Error(`${path} did not answer within ${timeoutMs} ms`)); }, timeoutMs);
    c.on('data', (d) => { text += d; });
    c.on('end', () => {
      clearTimeout(timer);
      try { resolve(JSON.parse(text)); } catch { reject(new Error(`${path} answered something that is not a status: ${text.slice(0, 80)}`)); }
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' ? 'no such socket: is the service running?' : e.code === 'EACCES' ? 'permission denied: add yourself to the jaudiosync group (sudo usermod -aG jaudiosync $USER, then log in again)' : e.code === 'ECONNREFUSED' ? 'nothing listens there (a stale socket: the service is not running)' : e.message;
      reject(new Error(`cannot read the status at ${path}: ${why}`));
    });
  });
}

async function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}
