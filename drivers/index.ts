/**
 * The drivers: bytes and edges from the hardware, handed upward through narrow sinks (GpsSink,
 * PpsSink) and never reaching the clock or the player; each with its twin (emulator) for machines
 * without the part, and the Pi's own facts (board, GPIO chips, serial port, PPS devices, ALSA names).
 */
export { SerialGps, type SerialBinding } from './gps/serial-gps.js';
export { parseNmeaLine, FixGate, SkyView } from './gps/nmea.js';
export { replayCapture } from './gps/replay.js';
export { sentencesForSecond } from './gps/emulator.js';
export type { GpsSink, GpsTimeFix, GpsContext, GpsSky, GpsCounters } from './gps/types.js';
export { SysfsPps, parseAssert, type RealtimeToMono } from './pps/sysfs.js';
export { GpioPps, sysfsGpioNumber } from './pps/gpio.js';
export { PpsFileEmulator } from './pps/emulator.js';
export type { PpsPulse, PpsSink } from './pps/types.js';
export { Ds3231, Ds3231Error } from './rtc/ds3231.js';
export { Ds3231Emulator } from './rtc/ds3231-emulator.js';
export { openI2cBus, I2cError, type I2cBus } from './rtc/i2c.js';
export { openGpioLed, LedTwin, type LedOutput } from './led/led.js';
export { platformSummary, piModel, gpioChips, serial0, ppsDevices, alsaPlaybackPcms } from './platform/pi.js';
export { listSerialPorts } from './platform/serial-ports.js';
export { PtyPair } from './pty.js';
