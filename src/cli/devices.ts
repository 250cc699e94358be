import { probeAlsaOutputs } from '../player/sinks/alsa-probe.js';

/** `jaudiosync devices`: ALSA outputs by the names audio.device takes. */

export async function devicesCommand(): Promise<number> {
  const outs = await probeAlsaOutputs();
  if (outs.length === 0) {
    process.stdout.write('no ALSA output device found (jaudiosync run will write a WAV file instead)\n');
    return 1;
  }
  for (const d of outs) {
    process.stdout.write(`${d.isDefault ? '*' : ' '} "${d.name}"  ${d.channels} ch, rates ${d.sampleRates.join('/')}\n`);
  }
  return 0;
}
