import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The serial ports a GPS may be on. serialport's list() runs `udevadm info -e`: on an image without
 * udev (a minimal Debian, a container) that spawn fails, so udevadm is looked for on PATH first and
 * any failure falls back to the device names in /dev (serial0/1, ttyUSB*, ttyACM*, ttyAMA*, ttyS*).
 */

export interface SerialPortInfo {
  path: string;
  manufacturer?: string;
  via: 'udev' | '/dev';
}

type Lister = () => Promise<Array<{ path: string; manufacturer?: string }>>;

/** serialport's own lister, loaded lazily (native code). */
async function serialportList(): Promise<Array<{ path: string; manufacturer?: string }>> {
  const { SerialPort } = await import('serialport');
  return SerialPort.list();
}

export function onPath(cmd: string, pathEnv = process.env.PATH ?? ''): boolean {
  return pathEnv.split(delimiter).some((d) => {
    if (!d) return false;
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const DEV_PORT = /^(serial\d+|ttyUSB\d+|ttyACM\d+|ttyAMA\d+|ttyS0)$/;

/** Serial devices by name in ROOT/dev, serial0/serial1 (the Pi's aliases) first. */
export function devSerialPorts(root = ''): SerialPortInfo[] {
  let names: string[];
  try {
    names = readdirSync(join(root, 'dev')).filter((n) => DEV_PORT.test(n));
  } catch {
    return [];
  }
  const rank = (n: string) => (n.startsWith('serial') ? 0 : 1);
  return names
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true }))
    .map((n) => ({ path: `/dev/${n}`, via: '/dev' as const }));
}

export async function listSerialPorts(
  opts: { root?: string; pathEnv?: string; lister?: Lister } = {},
): Promise<SerialPortInfo[]> {
  const root = opts.root ?? '';
  if (!root && onPath('udevadm', opts.pathEnv)) {
    try {
      const ports = await (opts.lister ?? serialportList)();
      return ports.map((p) => ({ path: p.path, manufacturer: p.manufacturer, via: 'udev' as const }));
    } catch {
      /* udevadm failed: fall back to /dev */
    }
  }
  return devSerialPorts(root);
}
