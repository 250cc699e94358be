import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { ID_PATTERN, ROLES, type Role } from './command.js';

/**
 * Operator keys: Ed25519 from node:crypto. Devices hold only public keys (32 raw bytes in base64,
 * as `[[fleet.keys]]` entries); an operator holds a key file: JSON with the key id, its role and the
 * private key (PKCS#8 PEM), written 0600.
 */

export interface PublicKeyEntry {
  id: string;
  role: Role;
  key: KeyObject;
}

export interface OperatorKey {
  id: string;
  role: Role;
  privateKey: KeyObject;
  publicKeyBase64: string;
}

export function publicKeyFromBase64(b64: string): KeyObject {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes; "${b64}" is ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

export function publicKeyBase64(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' }) as { x?: string };
  return Buffer.from(jwk.x!, 'base64url').toString('base64');
}

/** The `[[fleet.keys]]` of a config as key objects. */
export function keyTable(
  keys: ReadonlyArray<{ id: string; role: Role; public_key: string }>,
): Map<string, PublicKeyEntry> {
  return new Map(keys.map((k) => [k.id, { id: k.id, role: k.role, key: publicKeyFromBase64(k.public_key) }]));
}

export function generateOperatorKey(id: string, role: Role): { file: string; key: OperatorKey } {
  if (!ID_PATTERN.test(id)) throw new Error(`key id "${id}": expected 1-64 letters, digits, "_", "." or "-"`);
  if (!ROLES.includes(role)) throw new Error(`role "${role}": expected one of ${ROLES.join(', ')}`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const key: OperatorKey = { id, role, privateKey, publicKeyBase64: publicKeyBase64(publicKey) };
  return { key, file: JSON.stringify({ v: 1, kid: id, role, private_key: pem }, null, 2) + '\n' };
}

/** A key file's content (its path only for messages). */
export function parseOperatorKey(text: string, path: string): OperatorKey {
  let raw: { v?: unknown; kid?: unknown; role?: unknown; private_key?: unknown };
  try {
    raw = JSON.parse(text) as typeof raw;
  } catch {
    throw new Error(`${path}: not a jaudiosync key file (expected the JSON that "jaudiosync fleet keygen" writes)`);
  }
  if (
    raw.v !== 1 ||
    typeof raw.kid !== 'string' ||
    !ID_PATTERN.test(raw.kid) ||
    !ROLES.includes(raw.role as Role) ||
    typeof raw.private_key !== 'string'
  ) {
    throw new Error(
      `${path}: not a jaudiosync key file (expected v, kid, role and private_key as "jaudiosync fleet keygen" writes them)`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(raw.private_key);
  } catch (e) {
    throw new Error(`${path}: the private key does not load (${(e as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`${path}: expected an Ed25519 key, found ${privateKey.asymmetricKeyType}`);
  return {
    id: raw.kid,
    role: raw.role as Role,
    privateKey,
    publicKeyBase64: publicKeyBase64(createPublicKey(privateKey)),
  };
}

export function signBytes(bytes: Uint8Array, key: KeyObject): Buffer {
  return sign(null, bytes, key);
}

export function verifyBytes(bytes: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  try {
    return verify(null, bytes, key, signature);
  } catch {
    return false; // a malformed signature is a bad one, never an exception upward
  }
}

/** The config entry for a key, for every device's config. */
export function keyEntryToml(key: OperatorKey): string {
  return `[[fleet.keys]]\nid = ${JSON.stringify(key.id)}\nrole = "${key.role}"\npublic_key = "${key.publicKeyBase64}"\n`;
}
