import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeDir, type Config } from '../service/config.js';
import { readStatus, STATUS_SOCKET } from '../service/status-server.js';
import { formatStatus, type LiveStatus } from '../service/status.js';

/** `jaudiosync status [--json]`: asks the running service through its socket. */

function candidates(config?: Config): string[] {
  const env = process.env;
  const dirs = [
    config ? runtimeDir(config) : undefined,
    env.RUNTIME_DIRECTORY?.split(':')[0],
    '/run/jaudiosync', // the systemd unit's RuntimeDirectory
    env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'jaudiosync') : undefined,
    join('/tmp', `jaudiosync-${process.getuid?.() ?? 0}`),
  ].filter((d): d is string => Boolean(d));
  return [...new Set(dirs.map((d) => join(d, STATUS_SOCKET)))];
}

export interface StatusTarget {
  socket?: string;
  config?: Config;
}

/**
 * The running service's status, or undefined after saying on stderr why there is none (no socket:
 * "is the service running?"; a socket that does not answer; permissions).
 */
export async function readLiveStatus(o: StatusTarget, what = 'status'): Promise<LiveStatus | undefined> {
  const tried = o.socket ? [o.socket] : candidates(o.config);
  const path = tried.find((p) => existsSync(p)) ?? tried[0]!;
  if (!o.socket && !tried.some((p) => existsSync(p))) {
    process.stderr.write(
      `no jaudiosync status socket found (looked at ${tried.join(', ')}): is the service running? (systemctl status jaudiosync)${what === 'status' ? '' : `\n${what}`}\n`,
    );
    return undefined;
  }
  try {
    return (await readStatus(path)) as LiveStatus;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return undefined;
  }
}

export async function statusCommand(o: { json: boolean } & StatusTarget): Promise<number> {
  const s = await readLiveStatus(o);
  if (!s) return 1;
  process.stdout.write(
    o.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s, process.stdout.isTTY ? process.stdout.columns : 80),
  );
  return 0;
}
