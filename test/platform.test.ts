import test from 'ava';
import { rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import {
  alsaPlaybackPcms,
  gpioChips,
  headerGpioChip,
  isRaspberryPi,
  piModel,
  platformSummary,
  ppsDevices,
  rtaudioDeviceName,
  serial0,
} from '../drivers/platform/pi.js';
import { devSerialPorts, listSerialPorts } from '../drivers/platform/serial-ports.js';
import { sysfsGpioNumber } from '../drivers/pps/gpio.js';
import { formatDevices } from '../src/cli/devices.js';
import { FakePi, HDMI, HEADPHONES, HIFIBERRY, USB_DAC } from './helpers/fake-pi.js';
import { tempDir } from './helpers/tmp.js';

/** The Pi's quirks, each read from a fake /proc, /sys and /dev tree (a temp folder as the root). */

const trees: FakePi[] = [];
const pi = (b: ConstructorParameters<typeof FakePi>[0]) => {
  const p = new FakePi(b);
  trees.push(p);
  return p;
};
test.after.always(() => {
  for (const p of trees) rmSync(p.root, { recursive: true, force: true });
});

test('the model comes from the device tree, without its NUL; no device tree is "not a Pi"', (t) => {
  t.is(piModel(pi('pi4-6.6').root), 'Raspberry Pi 4 Model B Rev 1.4');
  t.true(isRaspberryPi(piModel(pi('pi5-6.6').root)));
  const laptop = pi('laptop');
  t.is(piModel(laptop.root), undefined);
  t.deepEqual(platformSummary(laptop.root), { model: undefined, isPi: false, kernel: '6.6.51+rpt-rpi-v8' });
  // /sys/firmware/devicetree/base is the same tree where /proc/device-tree is not linked.
  const alt = pi('laptop');
  alt.file('sys/firmware/devicetree/base/model', 'Raspberry Pi Zero 2 W Rev 1.0\0');
  t.is(piModel(alt.root), 'Raspberry Pi Zero 2 W Rev 1.0');
});

test('GPIO18 in sysfs numbers: base 0 on kernel 6.1, 512 on 6.6+, the RP1 at 571 on a Pi 5 (not the lowest base)', (t) => {
  const cases: Array<[ConstructorParameters<typeof FakePi>[0], number, string]> = [
    ['pi3-6.1', 18, 'pinctrl-bcm2835'],
    ['pi4-6.6', 530, 'pinctrl-bcm2711'],
    ['pi5-6.6', 589, 'pinctrl-rp1'],
  ];
  for (const [board, want, label] of cases) {
    const root = pi(board).root;
    t.is(sysfsGpioNumber(18, join(root, 'sys/class/gpio')), want, board);
    t.is(headerGpioChip(gpioChips(root), 18)?.label, label, board);
  }
  // The Pi 5's lowest chip has only 32 lines and is not the header: picking by base alone would give 530.
  t.is(Math.min(...gpioChips(pi('pi5-6.6').root).map((c) => c.base)), 512);
  t.throws(() => sysfsGpioNumber(18, join(pi('laptop').root, 'sys/class/gpio')), {
    message: /cannot read GPIO chips .*Raspberry Pi/,
  });
});

test('/dev/serial0: ttyAMA0 is the PL011, ttyS0 the mini-UART; none on a laptop', (t) => {
  t.deepEqual(serial0(pi('pi4-6.6').serial0('ttyAMA0').root), { target: 'ttyAMA0', miniUart: false });
  t.deepEqual(serial0(pi('pi3-6.1').serial0('ttyS0').root), { target: 'ttyS0', miniUart: true });
  t.deepEqual(serial0(pi('laptop').root), { miniUart: false });
});

test('PPS devices: each pps-gpio node says its pin (pps@12 is GPIO18, pps@11 GPIO17)', (t) => {
  const root = pi('pi4-6.6').pps(0, 18).pps(1, 17).root;
  t.deepEqual(
    ppsDevices(root).map((d) => [d.name, d.gpio]),
    [
      ['pps0', 18],
      ['pps1', 17],
    ],
  );
  t.deepEqual(ppsDevices(pi('pi4-6.6').root), []);
});

test('ALSA cards: the onboard jack, an I2S HAT, a USB DAC and HDMI, with ALSA and RtAudio names', (t) => {
  const root = pi('pi4-6.6').cards([HEADPHONES, HDMI, HIFIBERRY, USB_DAC]).root;
  const pcms = alsaPlaybackPcms(root);
  t.deepEqual(
    pcms.map((p) => [p.alsaName, p.kind, p.rtaudioName]),
    [
      ['hw:CARD=Headphones,DEV=0', 'onboard-headphones', 'bcm2835 Headphones (bcm2835 Headphones)'],
      ['hw:CARD=vc4hdmi0,DEV=0', 'hdmi', 'vc4-hdmi-0 (MAI PCM i2s-hifi-0)'],
      ['hw:CARD=sndrpihifiberry,DEV=0', 'i2s-hat', 'snd_rpi_hifiberry_dacplus (HiFiBerry DAC+ HiFi pcm512x-hifi-0)'],
      ['hw:CARD=Device,DEV=0', 'usb', 'USB Audio Device (USB Audio)'],
    ],
  );
  // audio.device may be given as ALSA names it; the sink matches RtAudio's name.
  t.is(
    rtaudioDeviceName('hw:CARD=sndrpihifiberry,DEV=0', root),
    'snd_rpi_hifiberry_dacplus (HiFiBerry DAC+ HiFi pcm512x-hifi-0)',
  );
  t.is(rtaudioDeviceName('hw:CARD=Device', root), 'USB Audio Device (USB Audio)', 'DEV defaults to 0');
  t.is(
    rtaudioDeviceName('hw:CARD=Nope,DEV=0', root),
    'hw:CARD=Nope,DEV=0',
    'unknown: unchanged, so the sink reports it missing',
  );
  t.is(rtaudioDeviceName('USB Audio Device (USB Audio)', root), 'USB Audio Device (USB Audio)');
  t.deepEqual(alsaPlaybackPcms(pi('laptop').root), []);

  const lines = formatDevices(
    [
      { id: 1, name: 'USB Audio Device (USB Audio)', channels: 2, isDefault: false, sampleRates: [44100, 48000] },
      { id: 0, name: 'Default ALSA Device', channels: 2, isDefault: true, sampleRates: [48000] },
    ],
    pcms,
  );
  t.regex(
    lines[0]!,
    /^ {2}"hw:CARD=Device,DEV=0" {2}\(also "USB Audio Device \(USB Audio\)"\) {2}2 ch, rates 44100\/48000, USB DAC$/,
  );
  t.regex(lines[1]!, /^\* "Default ALSA Device"/);
});

test('serial ports without udevadm: no spawn, the /dev names instead (serial0 first)', async (t) => {
  const root = pi('pi4-6.6').serial0('ttyAMA0').root;
  for (const n of ['ttyUSB0', 'ttyACM0', 'tty1', 'ttyS0']) writeFileSync(join(root, 'dev', n), '');
  t.deepEqual(
    devSerialPorts(root).map((p) => p.path),
    ['/dev/serial0', '/dev/ttyACM0', '/dev/ttyAMA0', '/dev/ttyS0', '/dev/ttyUSB0'],
  );

  let listed = 0;
  const noUdev = tempDir('jas-path-');
  t.teardown(() => rmSync(noUdev, { recursive: true, force: true }));
  const ports = await listSerialPorts({
    pathEnv: noUdev,
    lister: async () => {
      listed++;
      return [];
    },
  });
  t.is(listed, 0, "udevadm is not on PATH: serialport's list is not asked");
  t.true(ports.every((p) => p.via === '/dev'));
});

test("serial ports: a udevadm that fails (serialport's real list rejects) falls back to /dev, no crash", async (t) => {
  const bin = tempDir('jas-bin-');
  t.teardown(() => rmSync(bin, { recursive: true, force: true }));
  writeFileSync(join(bin, 'udevadm'), '#!/bin/sh\necho "udevadm: broken" >&2\nexit 1\n');
  chmodSync(join(bin, 'udevadm'), 0o755);
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`; // serialport spawns "udevadm" through PATH
  try {
    const ports = await listSerialPorts({ pathEnv: process.env.PATH });
    t.true(
      ports.every((p) => p.via === '/dev'),
      JSON.stringify(ports),
    );
  } finally {
    process.env.PATH = oldPath;
  }
});
