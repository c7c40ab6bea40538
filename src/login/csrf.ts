// Anti-CSRF tokens for the sign-in and logout forms (security.md §8): an HMAC over a
// binding (the pre-session cookie, or the session) that only the server can make.
//
// token = base64url(nonce[16] ‖ HMAC-SHA256(key, nonce ‖ binding)). The random nonce makes
// every token for one binding look different, so a compressed page that also reflects
// attacker text does not leak it byte by byte (BREACH). Keys are derived from
// `sessions.secret` by HKDF (RFC 5869) with their own `info`, so a CSRF token can never
// be replayed as a cookie signature made with the same secret.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CsrfTokens } from './types.js';

const NONCE_BYTES = 16;
const MAC_BYTES = 32;
/** Length of every token this module issues (48 bytes in base64url, no padding). */
export const CSRF_TOKEN_LENGTH = Math.ceil(((NONCE_BYTES + MAC_BYTES) * 4) / 3);
const TOKEN_SHAPE = new RegExp(`^[A-Za-z0-9_-]{${CSRF_TOKEN_LENGTH}}$`);
const HKDF_INFO = 'gatehouse csrf';

/** The first secret issues; every secret verifies (rotation, as for session cookies). */
export function createCsrfTokens(secrets: readonly Buffer[]): CsrfTokens {
  if (secrets.length === 0) throw new Error('createCsrfTokens needs at least one secret');
  const keys = secrets.map((secret) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), HKDF_INFO, MAC_BYTES)));
  const signingKey = keys[0]!;

  const mac = (key: Buffer, nonce: Buffer, binding: string): Buffer =>
    createHmac('sha256', key).update(nonce).update(binding, 'utf8').digest();

  return {
    issue(binding: string): string {
      const nonce = randomBytes(NONCE_BYTES);
      return Buffer.concat([nonce, mac(signingKey, nonce, binding)]).toString('base64url');
    },

    verify(token: string | undefined, binding: string): boolean {
      // Shape first: a garbled or over-long value costs no HMAC.
      if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return false;
      const raw = Buffer.from(token, 'base64url');
      const nonce = raw.subarray(0, NONCE_BYTES);
      const given = raw.subarray(NONCE_BYTES);
      let ok = false;
      // Every key is tried, so the time taken does not tell which one matched.
      for (const key of keys) if (timingSafeEqual(mac(key, nonce, binding), given)) ok = true;
      return ok;
    },
  };
}
