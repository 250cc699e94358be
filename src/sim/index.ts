/**
 * The simulated world: the twins of every hardware part in real time (twinHardware, chosen by the CLI)
 * and in virtual time (ClockWorld, the virtual DAC), and the ride simulator that runs whole devices
 * on the session core. Nothing below the CLI imports this folder.
 */
export { twinHardware } from './hardware-twins.js';
export { ClockWorld } from './clock-world.js';
export { VirtualSink } from './virtual-sink.js';
export { simulateRide, defaultEvents, type RideOptions, type RideResult, type RideEvent } from './ride.js';
export { seededRandom } from './oscillator.js';
