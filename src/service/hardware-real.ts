import { existsSync } from 'node:fs';
import { openI2cBus } from '../../drivers/rtc/i2c.js';
import type { Config } from './config.js';
import type { ChainOverrides, GpsPorts, HardwareFactory, RtcChip } from './hardware.js';

/**
 * The real timing hardware of a Pi: the GPS's serial port and kernel PPS file as configured, the
 * DS3231 on /dev/i2c-N. Nothing is checked here beyond what opening needs: a part that is not there
 * is the chain's to retry.
 */
export function realHardware(why: string): HardwareFactory {
  return {
    simulated: false,
    why,
    async gps(config: Config, _converter: unknown, over: ChainOverrides): Promise<GpsPorts> {
      const port = over.gpsPort ?? config.gps.port;
      const pps = over.ppsPath ?? (config.gps.pps || undefined);
      return {
        port,
        pps,
        describe: `GPS on ${port} @ ${over.baud ?? config.gps.baud} baud${pps ? ` + PPS ${pps}` : ' (no PPS)'}`,
        stop: async () => {},
      };
    },
    async rtc(config: Config, _converter: unknown, busNumber: number): Promise<RtcChip> {
      if (!existsSync(`/dev/i2c-${busNumber}`))
        throw new Error(
          `/dev/i2c-${busNumber} does not exist: add dtparam=i2c_arm=on to /boot/firmware/config.txt and reboot`,
        );
      const bus = await openI2cBus(busNumber);
      let sqwPath = config.rtc.sqw || undefined;
      let how = sqwPath ? `SQW ${sqwPath}` : 'seconds register polled';
      if (sqwPath && !existsSync(sqwPath)) {
        how = `SQW ${sqwPath} missing (dtoverlay=pps-gpio,gpiopin=17): seconds register polled (sub-ms class)`;
        sqwPath = undefined;
      }
      return {
        bus,
        sqwPath,
        describe: `DS3231 at 0x${config.rtc.address.toString(16)} on I2C bus ${busNumber}, ${how}`,
        stop: () => bus.close(),
      };
    },
  };
}
