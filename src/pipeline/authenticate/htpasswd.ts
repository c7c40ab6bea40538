// htpasswd files: one `user:hash` per line, as Apache's htpasswd writes them. Only hashes
// that `hashScheme` accepts load; anything else is an error that names the line and the
// scheme's family, never the hash (security.md §13: it may be a plain-text password).
import { hashScheme } from '../../passwords.js';

export interface HtpasswdError {
  /** 1-based line number. */
  readonly line: number;
  readonly message: string;
}

export interface HtpasswdResult {
  /** user → hash, in file order; a duplicate user keeps its first entry. */
  readonly entries: Map<string, string>;
  readonly errors: HtpasswdError[];
}

const ACCEPTED = 'accepted: bcrypt $2a$/$2b$/$2y$, argon2id';

// Prefixes we can name safely: fixed identifiers of well-known schemes. Anything else is
// described without quoting it, since an unknown prefix could be the start of a password.
const KNOWN_DOLLAR_IDS = new Set([
  '1', // MD5-crypt
  'apr1', // Apache MD5
  'md5',
  '2',
  '2x', // crypt_blowfish's buggy variant
  '3', // NT hash
  '5', // SHA-256-crypt
  '6', // SHA-512-crypt
  '7', // scrypt
  'y', // yescrypt
  'gy',
  'sha1',
  'argon2i',
  'argon2d',
  'scrypt',
  'pbkdf2',
  'pbkdf2-sha256',
  'pbkdf2-sha512',
]);
const KNOWN_BRACE_IDS = new Set(['SHA', 'SSHA', 'SHA256', 'SSHA256', 'SHA512', 'SSHA512', 'MD5', 'SMD5', 'CRYPT', 'PLAIN', 'CLEARTEXT']);

// RFC 7617 §2: a user-id with control characters can never be sent; C1 controls are
// refused too (the Basic authenticator does the same), so such a line is a mistake.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `hash` is not accepted, naming its scheme family but never quoting the hash. */
function describeRejectedHash(hash: string): string {
  if (hash === '') return 'empty hash';
  if (/^\$2[aby]\$/.test(hash)) return `malformed bcrypt hash (${hash.slice(0, 4)} prefix, but not cost 04-31 followed by 53 characters)`;
  if (hash.startsWith('$argon2id$')) {
    return 'malformed or unsupported argon2id hash (expected $argon2id$v=19$m=…,t=…,p=…$salt$digest with m at most 2097152)';
  }
  const dollar = /^\$([A-Za-z0-9-]+)\$/.exec(hash);
  if (dollar !== null && KNOWN_DOLLAR_IDS.has(dollar[1]!)) return `unsupported hash scheme $${dollar[1]}$ (${ACCEPTED})`;
  const brace = /^\{([A-Za-z0-9]+)\}/.exec(hash);
  if (brace !== null && KNOWN_BRACE_IDS.has(brace[1]!.toUpperCase())) {
    return `unsupported hash scheme {${brace[1]}} (${ACCEPTED})`;
  }
  return `unrecognized hash format: plain text, DES crypt or an unknown scheme (${ACCEPTED})`;
}

export function parseHtpasswd(text: string): HtpasswdResult {
  const entries = new Map<string, string>();
  const firstLine = new Map<string, number>();
  const errors: HtpasswdError[] = [];
  // A byte-order mark from a Windows editor is not part of the first user's name.
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, i) => {
    const line = i + 1;
    // CRLF files; trailing blanks are dropped as Apache's config reader does.
    const content = raw.replace(/[\r\t ]+$/, '');
    const start = content.trimStart();
    if (start === '' || start.startsWith('#')) return;
    const colon = content.indexOf(':');
    if (colon < 0) {
      errors.push({ line, message: 'expected user:hash (no ":" found)' });
      return;
    }
    const user = content.slice(0, colon);
    const hash = content.slice(colon + 1);
    if (user === '') {
      errors.push({ line, message: 'empty user name' });
      return;
    }
    if (CONTROL_RE.test(user)) {
      errors.push({ line, message: 'user name contains a control character' });
      return;
    }
    if (user !== user.trim()) {
      // " alice" can never match what a client sends as "alice"; say so rather than
      // guess which one the operator meant.
      errors.push({ line, message: `user name ${JSON.stringify(user)} has leading or trailing whitespace` });
      return;
    }
    if (hashScheme(hash) === undefined) {
      errors.push({ line, message: `user ${JSON.stringify(user)}: ${describeRejectedHash(hash)}` });
      return;
    }
    const first = firstLine.get(user);
    if (first !== undefined) {
      errors.push({ line, message: `duplicate user ${JSON.stringify(user)} (first on line ${first})` });
      return;
    }
    firstLine.set(user, line);
    entries.set(user, hash);
  });
  return { entries, errors };
}
