import { alsaPlaybackPcms, type AlsaPcm } from '../../drivers/platform/pi.js';
import { probeAlsaOutputs, type AlsaOutput } from '../player/sinks/alsa-probe.js';

/**
 * `jaudiosync devices`: audio outputs by the names audio.device takes. A card's ALSA name
 * ("hw:CARD=sndrpihifiberry,DEV=0", as `aplay -L` lists it) stays the same when USB devices are
 * plugged in another order; RtAudio's own name ("snd_rpi_hifiberry_dac (…)") is accepted too.
 */

const KIND: Record<AlsaPcm['kind'], string> = {
  'onboard-headphones': 'onboard headphone jack (PWM through the firmware: extra latency, measure it)',
  hdmi: 'HDMI',
  usb: 'USB DAC',
  'i2s-hat': 'I2S DAC (HAT)',
  other: '',
};

export function formatDevices(outs: AlsaOutput[], pcms: AlsaPcm[]): string[] {
  return outs.map((d) => {
    const pcm = pcms.find((p) => p.rtaudioName === d.name);
    const name = pcm ? `"${pcm.alsaName}"  (also "${d.name}")` : `"${d.name}"`;
    const kind = pcm && KIND[pcm.kind] ? `, ${KIND[pcm.kind]}` : '';
    return `${d.isDefault ? '*' : ' '} ${name}  ${d.channels} ch, rates ${d.sampleRates.join('/')}${kind}`;
  });
}

export async function devicesCommand(root = process.env.JAUDIOSYNC_ROOT ?? ''): Promise<number> {
  const outs = await probeAlsaOutputs();
  if (outs.length === 0) {
    process.stdout.write('no ALSA output device found (jaudiosync run will write a WAV file instead)\n');
    return 1;
  }
  for (const line of formatDevices(outs, alsaPlaybackPcms(root))) process.stdout.write(line + '\n');
  return 0;
}
