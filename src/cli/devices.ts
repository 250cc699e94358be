import audify from 'audify';

/** `jaudiosync devices`: ALSA outputs by the names audio.device takes. */

const RTAUDIO_API_LINUX_ALSA = 2;

export function devicesCommand(): number {
  const rt = new audify.RtAudio(RTAUDIO_API_LINUX_ALSA);
  const outs = rt.getDevices().filter((d) => d.outputChannels > 0);
  if (outs.length === 0) {
    process.stdout.write('no ALSA output device found (jaudiosync run will write a WAV file instead)\n');
    return 1;
  }
  const def = rt.getDefaultOutputDevice();
  for (const d of outs) {
    process.stdout.write(`${d.id === def ? '*' : ' '} "${d.name}"  ${d.outputChannels} ch, rates ${d.sampleRates.join('/')}\n`);
  }
  return 0;
}
