/**
 * Output that may go away: `jaudiosync gps monitor | head` closes the pipe after ten lines. Node
 * ignores SIGPIPE, so the next write fails with EPIPE, an 'error' event that nobody handles: a
 * stack trace, and the simulated GPS's temp folder and socat left behind. Instead, writes to the
 * closed stream are dropped from then on and the command is asked to stop as on SIGTERM (every
 * long-running command listens for it and cleans up); a command that does not listen simply runs
 * to its end with its output dropped.
 */

let installed = false;
let stopRequested = false;

/** True once stdout or stderr has gone away. */
export function outputClosed(): boolean {
  return stopRequested;
}

function dropWrites(stream: NodeJS.WriteStream): void {
  // Same signature as Writable.write: callbacks still run, so awaited writes settle.
  stream.write = ((_chunk: unknown, encodingOrCb?: unknown, cb?: unknown) => {
    const done = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }) as typeof stream.write;
}

export function stopWhenOutputCloses(): void {
  if (installed) return;
  installed = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', () => {
      // EPIPE, or any other failure of our own output (EIO on a vanished terminal): either way
      // nobody reads it any more.
      dropWrites(stream);
      if (stopRequested) return;
      stopRequested = true;
      process.emit('SIGTERM', 'SIGTERM');
    });
  }
}
