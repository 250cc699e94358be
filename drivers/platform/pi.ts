import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * What a Raspberry Pi says about itself through /proc, /sys and /dev: the model, the GPIO chips,
 * where /dev/serial0 points, the PPS devices and the ALSA cards. Every function takes `root`, a
 * folder standing for "/", so that tests run on a fake tree; nothing here throws on a missing file
 * (a laptop, a container or a minimal image simply has less to say).
 */

const read = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'latin1');
  } catch {
    return undefined;
  }
};

/** The board, e.g. "Raspberry Pi 4 Model B Rev 1.4" (device tree; NUL-terminated there). */
export function piModel(root = ''): string | undefined {
  const raw = read(join(root, 'proc/device-tree/model')) ?? read(join(root, 'sys/firmware/devicetree/base/model'));
  const model = raw?.replace(/\0+$/, '').trim();
  return model || undefined;
}

export const isRaspberryPi = (model: string | undefined): boolean => Boolean(model?.startsWith('Raspberry Pi'));

export interface GpioChip {
  name: string;
  base: number;
  label: string;
  ngpio: number;
}

/** The sysfs GPIO chips (gpiochipN with its base, label and line count). */
export function gpioChips(root = ''): GpioChip[] {
  return readGpioChips(join(root, 'sys/class/gpio'));
}

/** The chips in a sysfs GPIO class folder. */
export function readGpioChips(dir: string): GpioChip[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((d) => d.startsWith('gpiochip'));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const base = Number(read(join(dir, name, 'base'))),
      ngpio = Number(read(join(dir, name, 'ngpio')));
    const label = read(join(dir, name, 'label'))?.trim() ?? '';
    return Number.isInteger(base) && Number.isInteger(ngpio) ? [{ name, base, label, ngpio }] : [];
  });
}

/**
 * Labels of the chip that carries the 40-pin header's BCM GPIOs: pinctrl-bcm2835 (Pi 1–3, Zero),
 * pinctrl-bcm2711 (Pi 4, 400, CM4), pinctrl-rp1 (Pi 5: the RP1 south bridge, whose base on 6.6+ is
 * not the lowest: the SoC's own brcmstb chips come first).
 */
export const HEADER_GPIO_LABEL = /^(pinctrl-bcm|pinctrl-rp1|raspberrypi-gpio|bcm2835)/;

/** The header's GPIO chip, or the lowest-based chip with enough lines when no label matches. */
export function headerGpioChip(chips: GpioChip[], bcmPin = 0): GpioChip | undefined {
  const byBase = (a: GpioChip, b: GpioChip) => a.base - b.base;
  const fits = chips.filter((c) => bcmPin < c.ngpio);
  return fits.filter((c) => HEADER_GPIO_LABEL.test(c.label)).sort(byBase)[0] ?? fits.sort(byBase)[0];
}

export interface Serial0 {
  /** Where /dev/serial0 points ("ttyAMA0", "ttyS0"), undefined when it does not exist. */
  target?: string;
  /** ttyS*: the mini-UART, whose baud rate is derived from the VPU core clock (it drifts when that scales). */
  miniUart: boolean;
}

export function serial0(root = ''): Serial0 {
  try {
    const target = basename(readlinkSync(join(root, 'dev/serial0')));
    return { target, miniUart: /^ttyS\d+$/.test(target) };
  } catch {
    return { miniUart: false };
  }
}

export interface PpsDevice {
  /** pps0, pps1, ... */
  name: string;
  /** The kernel's source name, e.g. "pps@12.-1" for a pps-gpio overlay node. */
  source: string;
  /** The BCM GPIO of a pps-gpio overlay node (its unit address is the pin in hex), when it says. */
  gpio?: number;
  assertPath: string;
}

export function ppsDevices(root = ''): PpsDevice[] {
  const dir = join(root, 'sys/class/pps');
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((d) => /^pps\d+$/.test(d))
      .sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const source = read(join(dir, name, 'name'))?.trim() ?? '';
    const m = /^pps@([0-9a-f]+)\b/i.exec(source);
    return { name, source, gpio: m ? parseInt(m[1]!, 16) : undefined, assertPath: join(dir, name, 'assert') };
  });
}

export type CardKind = 'onboard-headphones' | 'hdmi' | 'usb' | 'i2s-hat' | 'other';

export interface AlsaPcm {
  card: number;
  /** The card's ALSA id (the CARD= of "hw:CARD=id,DEV=n": stable when USB devices change order). */
  cardId: string;
  device: number;
  kind: CardKind;
  /** ALSA's own name for it, as `aplay -L` lists it. */
  alsaName: string;
  /** The name RtAudio (audify) gives it, "<card name> (<pcm id>)": what audio.device is matched against. */
  rtaudioName: string;
  driver: string;
  longName: string;
}

/** Playback PCMs of the ALSA cards, from /proc/asound. */
export function alsaPlaybackPcms(root = ''): AlsaPcm[] {
  const cards = read(join(root, 'proc/asound/cards'));
  if (!cards) return [];
  const out: AlsaPcm[] = [];
  const lines = cards.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*(\d+)\s+\[([^\]]+?)\s*\]:\s+(\S+)\s+-\s+(.*)$/.exec(lines[i]!);
    if (!m) continue;
    const card = Number(m[1]),
      cardId = m[2]!,
      driver = m[3]!,
      shortName = m[4]!.trim();
    const longName = lines[i + 1]?.trim() ?? shortName;
    const cardDir = join(root, 'proc/asound', `card${card}`);
    let pcms: string[] = [];
    try {
      pcms = readdirSync(cardDir)
        .filter((d) => /^pcm\d+p$/.test(d))
        .sort();
    } catch {
      /* no PCM list */
    }
    for (const p of pcms) {
      const device = Number(/\d+/.exec(p)![0]);
      const pcmId = /^id:\s*(.*)$/m.exec(read(join(cardDir, p, 'info')) ?? '')?.[1]?.trim() ?? '';
      out.push({
        card,
        cardId,
        device,
        driver,
        longName,
        kind: cardKind(driver, shortName, longName),
        alsaName: `hw:CARD=${cardId},DEV=${device}`,
        rtaudioName: `${shortName} (${pcmId})`,
      });
    }
  }
  return out;
}

function cardKind(driver: string, shortName: string, longName: string): CardKind {
  if (driver === 'USB-Audio') return 'usb';
  if (/headpho/i.test(driver) || /Headphones/.test(shortName)) return 'onboard-headphones';
  if (/hdmi/i.test(driver + shortName)) return 'hdmi';
  if (
    /^snd_rpi_|simple-card|audio-graph|hifiberry|iqaudio|justboom|allo/i.test(shortName + ' ' + longName + ' ' + driver)
  )
    return 'i2s-hat';
  return 'other';
}

/**
 * audio.device as RtAudio names it: "hw:CARD=id,DEV=n" (ALSA's stable name, what `aplay -L` and
 * `jaudiosync devices` show) becomes that PCM's RtAudio name; anything else is returned as it is.
 */
export function rtaudioDeviceName(wanted: string, root = ''): string {
  const m = /^(?:plug)?hw:CARD=([^,]+)(?:,DEV=(\d+))?$/.exec(wanted);
  if (!m) return wanted;
  const pcm = alsaPlaybackPcms(root).find((p) => p.cardId === m[1] && p.device === Number(m[2] ?? 0));
  return pcm?.rtaudioName ?? wanted;
}

/** The kernel's version ("6.6.51+rpt-rpi-2712"). */
export function kernelRelease(root = ''): string | undefined {
  return read(join(root, 'proc/sys/kernel/osrelease'))?.trim() || undefined;
}

/** A one-line description for `status` and `doctor`: the model, or what this is when not a Pi. */
export function platformSummary(root = ''): { model?: string; isPi: boolean; kernel?: string } {
  const model = piModel(root);
  return { model, isPi: isRaspberryPi(model), kernel: kernelRelease(root) };
}
