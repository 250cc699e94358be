import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * Lists ALSA outputs through RtAudio in a child process. On a machine without a sound card,
 * libasound prints a screenful of "ALSA lib ... cannot find card" to stderr while RtAudio probes;
 * asking in a child with its stderr discarded keeps the service's output to one clear line.
 */

export interface AlsaOutput {
  id: number;
  name: string;
  channels: number;
  isDefault: boolean;
  sampleRates: number[];
}

/** A probe that does not answer in this time is treated as "no device" (a wedged driver). */
const PROBE_TIMEOUT_MS = 10_000;

export function probeAlsaOutputs(env: NodeJS.ProcessEnv = process.env): Promise<AlsaOutput[]> {
  const audifyUrl = pathToFileURL(createRequire(import.meta.url).resolve('audify')).href;
  const script = `
    const { default: audify } = await import(${JSON.stringify(audifyUrl)});
    const rt = new audify.RtAudio(2);
    const def = rt.getDefaultOutputDevice();
    const outs = rt.getDevices().filter((d) => d.outputChannels > 0)
      .map((d) => ({ id: d.id, name: d.name, channels: d.outputChannels, isDefault: d.id === def, sampleRates: d.sampleRates }));
    process.stdout.write(JSON.stringify(outs));
    process.exit(0);`;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { env, timeout: PROBE_TIMEOUT_MS },
      (err, stdout) => {
        if (err) {
          resolve([]);
          return;
        }
        try {
          resolve(JSON.parse(stdout) as AlsaOutput[]);
        } catch {
          resolve([]);
        }
      },
    );
  });
}
