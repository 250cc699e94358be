import { randomBytes } from 'node:crypto';
import type { PlanOpName } from '../player/plan-ops.js';
import { commandId, encodeCommand, encodeEnvelope, ROLE_OPS, type Command } from './command.js';
import { signBytes, type OperatorKey } from './keys.js';

/** What an operator's tools do: build a command, sign it, wrap it in an envelope. */

export interface CommandSpec {
  fleet: string;
  ride: string;
  op: PlanOpName;
  args: Record<string, number>;
  atUtcNs: bigint;
  issuedUtcNs: bigint;
  target?: '*' | string[];
  /** 16+ hex digits; random by default (two equal commands stay two commands). */
  nonce?: string;
}

export function signCommand(spec: CommandSpec, key: OperatorKey): { envelope: string; command: Command } {
  if (!ROLE_OPS[key.role].includes(spec.op))
    throw new Error(
      `key "${key.id}" has role ${key.role}, which may not ${spec.op} (allowed: ${ROLE_OPS[key.role].join(', ')})`,
    );
  const c: Omit<Command, 'id'> = {
    fleet: spec.fleet,
    ride: spec.ride,
    kid: key.id,
    nonce: spec.nonce ?? randomBytes(8).toString('hex'),
    issuedUtcNs: spec.issuedUtcNs,
    atUtcNs: spec.atUtcNs,
    op: spec.op,
    args: spec.args,
    target: spec.target ?? '*',
  };
  const bytes = encodeCommand(c);
  return { envelope: encodeEnvelope(bytes, signBytes(bytes, key.privateKey)), command: { ...c, id: commandId(bytes) } };
}
