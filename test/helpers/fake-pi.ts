import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from './tmp.js';

/**
 * A fake root ("/") with what a Raspberry Pi shows in /proc, /sys and /dev, built from published
 * layouts: the device-tree model (NUL-terminated), sysfs GPIO chips (kernel 6.1: base 0; 6.6+: from
 * 512; Pi 5: the SoC's brcmstb chips first, the header on the RP1 at 571), /dev/serial0 as a symlink,
 * /sys/class/pps, /proc/asound.
 */

export type Board = 'pi3-6.1' | 'pi4-6.6' | 'pi5-6.6' | 'laptop';

const CHIPS: Record<Board, Array<[number, string, number]>> = {
  'pi3-6.1': [
    [0, 'pinctrl-bcm2835', 54],
    [504, 'raspberrypi-exp-gpio', 8],
  ],
  'pi4-6.6': [
    [512, 'pinctrl-bcm2711', 58],
    [570, 'raspberrypi-exp-gpio', 8],
  ],
  'pi5-6.6': [
    [512, 'gpio-brcmstb@107d508500', 32],
    [544, 'gpio-brcmstb@107d508520', 4],
    [548, 'gpio-brcmstb@107d517c00', 17],
    [565, 'gpio-brcmstb@107d517c20', 6],
    [571, 'pinctrl-rp1', 54],
  ],
  laptop: [],
};
const MODEL: Record<Board, string | undefined> = {
  'pi3-6.1': 'Raspberry Pi 3 Model B Plus Rev 1.3',
  'pi4-6.6': 'Raspberry Pi 4 Model B Rev 1.4',
  'pi5-6.6': 'Raspberry Pi 5 Model B Rev 1.0',
  laptop: undefined,
};

export class FakePi {
  readonly root = tempDir('jas-fakepi-');

  constructor(board: Board) {
    const model = MODEL[board];
    if (model) this.file('proc/device-tree/model', `${model}\0`);
    this.file(
      'proc/sys/kernel/osrelease',
      board === 'pi3-6.1' ? '6.1.21-v8+\n' : board === 'pi5-6.6' ? '6.6.51+rpt-rpi-2712\n' : '6.6.51+rpt-rpi-v8\n',
    );
    mkdirSync(join(this.root, 'dev'), { recursive: true });
    for (const [base, label, ngpio] of CHIPS[board]) {
      this.file(`sys/class/gpio/gpiochip${base}/base`, `${base}\n`);
      this.file(`sys/class/gpio/gpiochip${base}/label`, `${label}\n`);
      this.file(`sys/class/gpio/gpiochip${base}/ngpio`, `${ngpio}\n`);
    }
  }

  file(rel: string, content: string, mode?: number): string {
    const p = join(this.root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
    if (mode !== undefined) chmodSync(p, mode);
    return p;
  }

  /** /dev/serial0 -> target, as the Pi's udev rule makes it. */
  serial0(target: 'ttyAMA0' | 'ttyS0'): this {
    this.file(`dev/${target}`, '');
    symlinkSync(target, join(this.root, 'dev/serial0'));
    return this;
  }

  /** A pps-gpio device on a BCM pin (its node is pps@<pin in hex>), with an assert line. */
  pps(n: number, gpio: number, assert = '0.000000000#0'): this {
    this.file(`sys/class/pps/pps${n}/name`, `pps@${gpio.toString(16)}.-1\n`);
    this.file(`sys/class/pps/pps${n}/assert`, `${assert}\n`);
    return this;
  }

  /** ALSA cards as /proc/asound/cards and cardN/pcmMp/info show them. */
  cards(list: Array<{ id: string; driver: string; name: string; longName: string; pcms: string[] }>): this {
    this.file(
      'proc/asound/cards',
      list
        .map(
          (c, i) =>
            `${String(i).padStart(2)} [${c.id.padEnd(15)}]: ${c.driver} - ${c.name}\n                      ${c.longName}\n`,
        )
        .join(''),
    );
    list.forEach((c, i) =>
      c.pcms.forEach((id, d) =>
        this.file(
          `proc/asound/card${i}/pcm${d}p/info`,
          `card: ${i}\ndevice: ${d}\nsubdevice: 0\nstream: PLAYBACK\nid: ${id}\nname: \n`,
        ),
      ),
    );
    return this;
  }
}

export const HEADPHONES = {
  id: 'Headphones',
  driver: 'bcm2835_headpho',
  name: 'bcm2835 Headphones',
  longName: 'bcm2835 Headphones',
  pcms: ['bcm2835 Headphones'],
};
export const HIFIBERRY = {
  id: 'sndrpihifiberry',
  driver: 'HifiberryDacp',
  name: 'snd_rpi_hifiberry_dacplus',
  longName: 'snd_rpi_hifiberry_dacplus',
  pcms: ['HiFiBerry DAC+ HiFi pcm512x-hifi-0'],
};
export const USB_DAC = {
  id: 'Device',
  driver: 'USB-Audio',
  name: 'USB Audio Device',
  longName: 'C-Media Electronics Inc. USB Audio Device at usb-0000:01:00.0-1.3, full speed',
  pcms: ['USB Audio'],
};
export const HDMI = {
  id: 'vc4hdmi0',
  driver: 'vc4-hdmi',
  name: 'vc4-hdmi-0',
  longName: 'vc4-hdmi-0',
  pcms: ['MAI PCM i2s-hifi-0'],
};
