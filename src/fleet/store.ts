import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/files.js';

/**
 * The fleet's files in the state directory: the accepted commands of the current ride (their
 * envelopes, written atomically: a power cut leaves the old or the new set), re-read at start so a
 * Pi that reboots after a `stop` stays stopped; and an inbox of envelopes that `jaudiosync fleet
 * apply` drops for the service (no broker needed), taken in and removed.
 */

export const COMMANDS_FILE = 'fleet-commands.json';
export const INBOX_DIR = 'fleet-inbox';

export interface StoredCommands {
  v: 1;
  fleet: string;
  envelopes: string[];
}

/** The stored envelopes, or [] with a note when there is no file or it is unreadable. */
export async function readStoredCommands(
  stateDir: string,
  fleet: string,
): Promise<{ envelopes: string[]; note?: string }> {
  const path = join(stateDir, COMMANDS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { envelopes: [] };
    return { envelopes: [], note: `cannot read ${path} (${(e as Error).message}): starting without stored commands` };
  }
  try {
    const s = JSON.parse(text) as StoredCommands;
    if (s.v !== 1 || !Array.isArray(s.envelopes) || !s.envelopes.every((x) => typeof x === 'string'))
      throw new Error('unexpected content');
    if (s.fleet !== fleet)
      return { envelopes: [], note: `${path} is for fleet "${s.fleet}", this is "${fleet}": ignoring it` };
    return { envelopes: s.envelopes };
  } catch (e) {
    return { envelopes: [], note: `${path} is damaged (${(e as Error).message}): starting without stored commands` };
  }
}

export async function writeStoredCommands(stateDir: string, fleet: string, envelopes: string[]): Promise<void> {
  const s: StoredCommands = { v: 1, fleet, envelopes };
  await writeFileAtomic(join(stateDir, COMMANDS_FILE), JSON.stringify(s) + '\n', { createDir: true });
}

/** One envelope per line; a JSON array of envelopes or a plan message ({envelopes: [...]}) also works. */
export function splitEnvelopes(text: string): string[] {
  const t = text.trim();
  if (t.startsWith('[') || (t.startsWith('{') && t.includes('"envelopes"'))) {
    try {
      const raw = JSON.parse(t) as unknown;
      const list = Array.isArray(raw) ? raw : (raw as { envelopes?: unknown }).envelopes;
      if (Array.isArray(list)) return list.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
    } catch {
      // not one JSON document: read it line by line
    }
  }
  return t
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Drops envelopes into the inbox for the service to take in. */
export async function writeInbox(stateDir: string, name: string, envelopes: string[]): Promise<string> {
  const path = join(stateDir, INBOX_DIR, `${name}.jsonl`);
  await writeFileAtomic(path, envelopes.join('\n') + '\n', { createDir: true });
  return path;
}

/** The inbox's files (name, envelopes); the caller removes each once taken in. */
export async function readInbox(stateDir: string): Promise<Array<{ path: string; envelopes: string[] }>> {
  const dir = join(stateDir, INBOX_DIR);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort();
  } catch {
    return [];
  }
  const out: Array<{ path: string; envelopes: string[] }> = [];
  for (const n of names) {
    const path = join(dir, n);
    try {
      out.push({ path, envelopes: splitEnvelopes(await readFile(path, 'utf8')) });
    } catch {
      // removed meanwhile, or unreadable: the next poll says so again if it stays
    }
  }
  return out;
}

export async function removeInboxFile(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

export async function ensureStateDir(stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true });
}
