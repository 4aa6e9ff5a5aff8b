/** Random identifiers and secrets (crypto-strength). */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

/** URL- and Cosmos-safe id: base64url of `bytes` random bytes. */
export const randomId = (bytes = 12) => randomBytes(bytes).toString('base64url');

export const serverEventId = () => `srv-${randomUUID()}`;

const JOIN_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'; // no 0/O, 1/I
export function joinCode(length = 10): string {
  const bytes = randomBytes(length);
  let code = '';
  for (const b of bytes) code += JOIN_ALPHABET[b % JOIN_ALPHABET.length];
  return code;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
