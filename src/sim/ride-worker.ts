import { parentPort, workerData } from 'node:worker_threads';
import { ridePlaylistFrom } from './ride-playlist.js';
import { runDevice } from './ride.js';

/** A ride simulation thread: runs the devices it is given and posts each one's result. */
const { indices, o, noise, startAfterSec, rideSec, playlist } = workerData;
for (const i of indices as number[]) {
  const result = await runDevice(i, o, noise, startAfterSec, rideSec, ridePlaylistFrom(playlist), (seconds) =>
    parentPort!.postMessage({ seconds }),
  );
  parentPort!.postMessage({ i, result }, [result.frameErrorNs.buffer as ArrayBuffer]);
}
