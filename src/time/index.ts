/**
 * The time layer: one injected monotonic clock, the time sources (GPS+PPS, DS3231, SNTP) that hand
 * samples upward, the clock layer that disciplines a Timescale (local monotonic ns -> UTC ns with an
 * error bound), and the drift log and RTC calibration store that experiments read. Imports only
 * drivers and src/util; everything above asks a Timescale what time it is.
 */
export { hrtimeClock, sleepNs, VirtualClock, type MonotonicClock, type TimerHandle } from './clock.js';
export { Timescale, isoFromUtcNs, NS_PER_SEC, type ClockState, type SourceName } from './timescale.js';
export { ClockLayer, type ClockLayerEvents, type SourceReport } from './clock-layer.js';
export type { TimeSample, SampleSink } from './sample.js';
export { SourceStats, type FrequencyPrior } from './sourcestats.js';
export { RealtimeConverter } from './realtime-converter.js';
export { GpsPpsSource, type GpsPpsStatus } from './sources/gps-pps.js';
export { RtcSource, type RtcCalibration } from './sources/rtc.js';
export { NtpSource } from './sources/ntp.js';
export { RtcRateModel } from './rtc-model.js';
export { DriftLog, formatRecord, type DriftRecord, type HeaderRecord } from './drift-log.js';
export {
  defaultCalibrationPath,
  readCalibration,
  updateCalibration,
  readRtcCalibration,
  writeRtcCalibration,
  rtcSetHeld,
  type CalibrationFile,
} from './rtc-calibration.js';
export { fitLine, median, quantile } from './regress.js';
