// Session ids (security.md §8): 256 bits from the CSPRNG, base64url without padding.
// Stores never see the id itself, only storageKey(id), so a Redis dump or an operator
// listing holds nothing that can be replayed as a cookie (security.md §13).
import { createHash, randomBytes } from 'node:crypto';

export const SESSION_ID_BYTES = 32;
/** Length of a base64url-encoded 32-byte id: ceil(256 / 6). */
export const SESSION_ID_LENGTH = 43;

const ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function newSessionId(): string {
  return randomBytes(SESSION_ID_BYTES).toString('base64url');
}

/** sha256 of the id, base64url (43 characters). Also used to hash other index keys (user, sid, sub). */
export function storageKey(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('base64url');
}

/**
 * True for exactly the strings newSessionId() can produce. The last character carries
 * only 4 bits of the 256, so 43 base64url characters are not enough: the round trip
 * rejects the 3 in 4 spellings whose trailing bits are not zero, so one id has one cookie form.
 */
export function isWellFormedSessionId(id: string): boolean {
  return ID_SHAPE.test(id) && Buffer.from(id, 'base64url').toString('base64url') === id;
}
