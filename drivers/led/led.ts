import { sysfsGpioNumber } from '../pps/gpio.js';

/**
 * A status LED on a GPIO, through onoff (real) or a recording twin (tests, simulated hardware).
 * The driver only switches; which pattern shows what is the service's business (service/led.ts).
 */

export interface LedOutput {
  set(on: boolean): void;
  close(): void;
}

/** The part of onoff's Gpio an LED needs. */
interface OnoffOut {
  writeSync(v: 0 | 1): void;
  unexport(): void;
}

export async function openGpioLed(bcmPin: number, sysfsRoot?: string): Promise<LedOutput> {
  const n = sysfsGpioNumber(bcmPin, sysfsRoot);
  const { Gpio } = (await import('onoff')) as unknown as { Gpio: new (n: number, dir: 'out') => OnoffOut };
  let gpio: OnoffOut;
  try {
    gpio = new Gpio(n, 'out');
  } catch (e) {
    throw new Error(
      `cannot drive the status LED on GPIO${bcmPin} (sysfs ${n}): ${(e as Error).message}. Is the user in the gpio group?`,
    );
  }
  return { set: (on) => gpio.writeSync(on ? 1 : 0), close: () => gpio.unexport() };
}

/** The twin: remembers every change with its time, so a test can read the pattern back. */
export class LedTwin implements LedOutput {
  readonly changes: Array<{ atMs: number; on: boolean }> = [];
  private state = false;
  constructor(private readonly nowMs: () => number) {}
  set(on: boolean): void {
    if (on === this.state) return;
    this.state = on;
    this.changes.push({ atMs: this.nowMs(), on });
  }
  get on(): boolean {
    return this.state;
  }
  close(): void {}
}
