/**
 * The part of i2c-bus's promisified bus the DS3231 driver uses. The real bus
 * (`(await import('i2c-bus')).openPromisified(1)`) and the register-level emulator both satisfy it.
 */
export interface I2cBus {
  /** Write `command` as the register pointer, then read `length` bytes in one transaction. */
  readI2cBlock(
    address: number,
    command: number,
    length: number,
    buffer: Buffer,
  ): Promise<{ bytesRead: number; buffer: Buffer }>;
  /** Write `command` as the register pointer, then `length` bytes, in one transaction. */
  writeI2cBlock(
    address: number,
    command: number,
    length: number,
    buffer: Buffer,
  ): Promise<{ bytesWritten: number; buffer: Buffer }>;
  readByte(address: number, command: number): Promise<number>;
  writeByte(address: number, command: number, byte: number): Promise<void>;
  close(): Promise<void>;
}

/** An error as the kernel's i2c-dev reports it (errno codes). */
export class I2cError extends Error {
  constructor(
    readonly code: 'EIO' | 'ENXIO' | 'EREMOTEIO' | 'EBUSY' | 'ETIMEDOUT' | 'ENOENT' | 'EACCES',
    message: string,
  ) {
    super(message);
    this.name = 'I2cError';
  }
}

/** Opens /dev/i2c-N through i2c-bus (loaded lazily: no native module is touched in simulation). */
export async function openI2cBus(busNumber: number): Promise<I2cBus> {
  const i2c = (await import('i2c-bus')).default;
  try {
    return await (i2c.openPromisified(busNumber) as unknown as Promise<I2cBus>);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'EACCES' ? 'EACCES' : 'ENOENT';
    throw new I2cError(code, `cannot open /dev/i2c-${busNumber}: ${(e as Error).message}`);
  }
}
