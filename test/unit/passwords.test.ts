import { readFileSync } from 'node:fs';
import * as argon2 from '@node-rs/argon2';
import * as bcrypt from '@node-rs/bcrypt';
import t from 'tap';
import {
  ARGON2_MAX_MEMORY_KIB,
  BCRYPT_MAX_PASSWORD_BYTES,
  dummyHashLike,
  hashFamily,
  hashPassword,
  hashScheme,
  verifyPassword,
  type HashScheme,
} from '../../src/passwords.js';

const fixture = (name: string): Map<string, string> => {
  const text = readFileSync(new URL(`../fixtures/htpasswd/${name}`, import.meta.url), 'utf8');
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    map.set(line.slice(0, i), line.slice(i + 1));
  }
  return map;
};
const htpasswdBcrypt = fixture('htpasswd-bcrypt.htpasswd');
const nodeHashes = fixture('node-hashes.htpasswd');
const rejected = fixture('rejected.htpasswd');
const h = (m: Map<string, string>, user: string): string => {
  const v = m.get(user);
  if (v === undefined) throw new Error(`fixture lacks ${user}`);
  return v;
};
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Same bytes, non-canonical text: set the lowest (unused) bit of the last character. */
const flipPaddingBit = (s: string): string => s.slice(0, -1) + B64[B64.indexOf(s.at(-1)!) ^ 1];

const BCRYPT4 = h(htpasswdBcrypt, 'alice'); // $2y$04$
const ARGON_LOW = h(nodeHashes, 'gina'); // m=256,t=1,p=1

t.test('hashScheme accepts well-formed bcrypt of every accepted variant', async (t) => {
  t.equal(hashScheme(h(htpasswdBcrypt, 'alice')), 'bcrypt', '$2y$ from htpasswd');
  t.equal(hashScheme(h(nodeHashes, 'dora')), 'bcrypt', '$2b$');
  t.equal(hashScheme(h(nodeHashes, 'erin')), 'bcrypt', '$2a$');
  const body = BCRYPT4.slice(7);
  for (const cost of ['04', '09', '10', '19', '20', '29', '31']) t.equal(hashScheme(`$2b$${cost}$${body}`), 'bcrypt', `cost ${cost}`);
});

t.test('hashScheme refuses bcrypt look-alikes', async (t) => {
  const body = BCRYPT4.slice(7);
  const bad: Record<string, string> = {
    'cost 03': `$2b$03$${body}`,
    'cost 32': `$2b$32$${body}`,
    'cost 00': `$2b$00$${body}`,
    'one-digit cost': `$2b$4$${body}`,
    '3-digit cost': `$2b$010$${body}`,
    '$2x$ (buggy variant)': `$2x$04$${body}`,
    '$2$ (original)': `$2$04$${body}`,
    '$2c$': `$2c$04$${body}`,
    'upper-case variant': `$2B$04$${body}`,
    '52 chars': `$2b$04$${body.slice(1)}`,
    '54 chars': `$2b$04$${body}A`,
    'char outside the alphabet': `$2b$04$${body.slice(0, 52)}+`,
    'trailing newline': `${BCRYPT4}\n`,
    'leading space': ` ${BCRYPT4}`,
  };
  for (const [what, hash] of Object.entries(bad)) t.equal(hashScheme(hash), undefined, what);
});

t.test('hashScheme accepts argon2id PHC strings and refuses every deviation', async (t) => {
  t.equal(hashScheme(ARGON_LOW), 'argon2id');
  t.equal(hashScheme(h(nodeHashes, 'frank')), 'argon2id');
  const [, , , , salt, digest] = ARGON_LOW.split('$') as [string, string, string, string, string, string];
  const mk = (params: string, s = salt, d = digest, head = '$argon2id$v=19$'): string => `${head}${params}$${s}$${d}`;
  t.equal(hashScheme(mk('m=8,t=1,p=1')), 'argon2id', 'smallest legal m for p=1');
  t.equal(hashScheme(mk(`m=${ARGON2_MAX_MEMORY_KIB},t=1,p=1`)), 'argon2id', 'memory cap itself');
  t.equal(hashScheme(mk('m=2040,t=1,p=255')), 'argon2id', 'p=255 with m=8p');
  t.equal(hashScheme(mk('m=256,t=1,p=1', 'AAAAAAAAAAA')), 'argon2id', '8-byte salt');
  const bad: Record<string, string> = {
    'argon2i': mk('m=256,t=1,p=1', salt, digest, '$argon2i$v=19$'),
    'argon2d': mk('m=256,t=1,p=1', salt, digest, '$argon2d$v=19$'),
    'version 16': mk('m=256,t=1,p=1', salt, digest, '$argon2id$v=16$'),
    'no version': `$argon2id$m=256,t=1,p=1$${salt}$${digest}`,
    'params out of order': mk('t=1,m=256,p=1'),
    'missing p': mk('m=256,t=1'),
    'extra keyid': mk('m=256,t=1,p=1,keyid=abc'),
    'leading zero': mk('m=0256,t=1,p=1'),
    'p=0': mk('m=256,t=1,p=0'),
    't=0': mk('m=256,t=0,p=1'),
    'm=0': mk('m=0,t=1,p=1'),
    'm < 8p': mk('m=15,t=1,p=2'),
    'p=256': mk('m=4096,t=1,p=256'),
    'm above the cap': mk(`m=${ARGON2_MAX_MEMORY_KIB + 1},t=1,p=1`),
    'm = 2^32-1': mk('m=4294967295,t=1,p=1'),
    '7-byte salt': mk('m=256,t=1,p=1', 'AAAAAAAAAA'),
    'salt of impossible length': mk('m=256,t=1,p=1', 'AAAAAAAAAAAAA'),
    'non-canonical salt': mk('m=256,t=1,p=1', `${salt.slice(0, -1)}h`),
    'padded salt': mk('m=256,t=1,p=1', `${salt}==`),
    'base64url salt': mk('m=256,t=1,p=1', salt.replace(/\+/g, '-')),
    'digest of 15 bytes': mk('m=256,t=1,p=1', salt, 'A'.repeat(20)),
    'non-canonical digest': mk('m=256,t=1,p=1', salt, flipPaddingBit(digest)),
    'missing digest': `$argon2id$v=19$m=256,t=1,p=1$${salt}`,
    'trailing $': `${ARGON_LOW}$`,
  };
  t.same(Buffer.from(flipPaddingBit(digest), 'base64'), Buffer.from(digest, 'base64'), 'the non-canonical digest holds the same bytes');
  for (const [what, hash] of Object.entries(bad)) t.equal(hashScheme(hash), undefined, what);
});

t.test('hashScheme refuses every other htpasswd scheme', async (t) => {
  t.same(
    [...rejected.keys()],
    ['md5user', 'shauser', 'sha256user', 'sha512user', 'cryptuser', 'plainuser', 'argon2iuser', 'argon2duser'],
    'the fixture holds every refused scheme',
  );
  for (const [user, hash] of rejected) t.equal(hashScheme(hash), undefined, user);
  t.equal(hashScheme(''), undefined, 'empty');
  t.equal(hashScheme('$2y$'), undefined, 'bare prefix');
});

t.test('hashFamily names scheme and cost', async (t) => {
  t.equal(hashFamily(BCRYPT4), 'bcrypt:4');
  t.equal(hashFamily(h(htpasswdBcrypt, 'bob')), 'bcrypt:10');
  t.equal(hashFamily(h(nodeHashes, 'erin')), 'bcrypt:4', 'variant does not matter');
  t.equal(hashFamily(ARGON_LOW), 'argon2id:m=256,t=1,p=1');
  t.equal(hashFamily(h(nodeHashes, 'frank')), 'argon2id:m=19456,t=2,p=1');
  const apr1 = h(rejected, 'md5user');
  t.throws(() => hashFamily(apr1), { message: 'hashFamily: unsupported hash scheme' });
});

t.test('verifyPassword: htpasswd $2y$ hashes, right and wrong passwords', async (t) => {
  t.equal(await verifyPassword(h(htpasswdBcrypt, 'alice'), utf8('alice-secret')), true);
  t.equal(await verifyPassword(h(htpasswdBcrypt, 'alice'), utf8('alice-secreT')), false);
  t.equal(await verifyPassword(h(htpasswdBcrypt, 'alice'), utf8('')), false, 'empty password');
  t.equal(await verifyPassword(h(htpasswdBcrypt, 'bob'), utf8('bob-secret')), true, 'cost 10');
  t.equal(await verifyPassword(h(htpasswdBcrypt, 'bob'), utf8('bob-secreT')), false, 'cost 10, wrong');
  t.equal(await verifyPassword(h(htpasswdBcrypt, 'carol'), utf8('a:b:c')), true, 'colons are password bytes');
  t.equal(await verifyPassword(h(htpasswdBcrypt, 'carol'), utf8('a')), false);
});

t.test('verifyPassword: UTF-8 bytes, exactly (hash made by htpasswd from UTF-8 argv)', async (t) => {
  const hash = h(htpasswdBcrypt, 'émile');
  t.equal(await verifyPassword(hash, utf8('pässwörd-😀')), true);
  t.equal(await verifyPassword(hash, Buffer.from('pässwörd-', 'latin1')), false, 'Latin-1 bytes of the same text');
  t.equal(await verifyPassword(hash, utf8('pa\u0308sswo\u0308rd-😀')), false, 'NFD form: no normalization');
});

t.test('verifyPassword: $2a$ and $2b$ from @node-rs/bcrypt; argon2id', async (t) => {
  t.equal(await verifyPassword(h(nodeHashes, 'dora'), utf8('dora-secret')), true);
  t.equal(await verifyPassword(h(nodeHashes, 'dora'), utf8('erin-secret')), false);
  t.equal(await verifyPassword(h(nodeHashes, 'erin'), utf8('erin-secret')), true);
  t.equal(await verifyPassword(h(nodeHashes, 'erin'), utf8('dora-secret')), false);
  t.equal(await verifyPassword(h(nodeHashes, 'frank'), utf8('frank-secret')), true, 'argon2id m=19456');
  t.equal(await verifyPassword(h(nodeHashes, 'frank'), utf8('frank-secreT')), false);
  t.equal(await verifyPassword(ARGON_LOW, utf8('gina-secret')), true, 'argon2id m=256');
  t.equal(await verifyPassword(ARGON_LOW, utf8('gina-secret\0')), false, 'a trailing NUL is a different password');
  // @node-rs/argon2 throws on non-UTF-8 passwords; verifyPassword must answer false.
  t.equal(await verifyPassword(ARGON_LOW, Buffer.from([0x67, 0xe4, 0xff])), false, 'non-UTF-8 bytes against argon2id');
  t.equal(await verifyPassword(BCRYPT4, Buffer.from([0x67, 0xe4, 0xff])), false, 'non-UTF-8 bytes against bcrypt');
});

t.test(`bcrypt reads only the first ${BCRYPT_MAX_PASSWORD_BYTES} bytes (documented, not pre-hashed)`, async (t) => {
  const first72 = Buffer.alloc(72, 'x');
  const hash = await bcrypt.hash(Buffer.concat([first72, utf8('tail-one')]), 4);
  t.equal(await verifyPassword(hash, Buffer.concat([first72, utf8('tail-two')])), true);
  t.equal(await verifyPassword(hash, first72.subarray(0, 71)), false);
  // argon2id has no such limit.
  const a = await argon2.hash(Buffer.concat([first72, utf8('tail-one')]), { memoryCost: 256, timeCost: 1, parallelism: 1 });
  t.equal(await verifyPassword(a, Buffer.concat([first72, utf8('tail-two')])), false);
});

t.test('verifyPassword throws only on programmer error, never quoting the hash', async (t) => {
  const apr1 = h(rejected, 'md5user');
  await t.rejects(verifyPassword(apr1, utf8('pw')), { message: 'verifyPassword: unsupported hash scheme' });
  await t.rejects(verifyPassword(BCRYPT4, 'alice-secret' as unknown as Buffer), TypeError);
  await t.rejects(verifyPassword(BCRYPT4, 'alice-secret' as unknown as Buffer), { message: 'verifyPassword: password must be a Buffer' });
});

t.test('verifyPassword hides a library failure behind its own message', async (t) => {
  const secretish = 'library-message-with-$argon2id$secret';
  const mocked = await t.mockImport<typeof import('../../src/passwords.js')>('../../src/passwords.js', {
    '@node-rs/argon2': {
      ...argon2,
      verify: async () => {
        throw new Error(secretish);
      },
    },
  });
  const err = await mocked.verifyPassword(ARGON_LOW, utf8('gina-secret')).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  t.ok(err instanceof Error, 'rejects');
  t.equal(err?.message, 'verifyPassword: the argon2id hash could not be decoded');
  t.equal(err?.cause, undefined, 'the library error is not chained');
  t.notMatch(String(err?.stack), ARGON_LOW);
});

t.test('hashPassword uses explicit parameters and UTF-8', async (t) => {
  const a = await hashPassword('pässwörd', 'argon2id');
  t.equal(hashScheme(a), 'argon2id');
  t.equal(hashFamily(a), 'argon2id:m=19456,t=2,p=1');
  t.match(argon2.parseOptions(a), { algorithm: 2, version: 1, memoryCost: 19456, timeCost: 2, parallelism: 1, outputLen: 32 });
  t.equal(await verifyPassword(a, utf8('pässwörd')), true);
  t.equal(await verifyPassword(a, Buffer.from('pässwörd', 'latin1')), false);

  const fromBytes = await hashPassword(utf8('a:b'), 'argon2id');
  t.equal(await verifyPassword(fromBytes, utf8('a:b')), true);

  // The one cost-12 hash in the suite: pins the production bcrypt cost.
  const b = await hashPassword(utf8('bytes'), 'bcrypt');
  t.match(b, /^\$2b\$12\$[./A-Za-z0-9]{53}$/);
  t.equal(hashFamily(b), 'bcrypt:12');

  await t.rejects(hashPassword('x', 'md5' as HashScheme), { message: 'hashPassword: unsupported hash scheme' });
});

t.test('dummyHashLike matches family and shape, never the original password', async (t) => {
  const d = await dummyHashLike(BCRYPT4);
  t.equal(hashFamily(d), 'bcrypt:4');
  t.equal(await verifyPassword(d, utf8('alice-secret')), false);
  t.not(await dummyHashLike(BCRYPT4), d, 'a fresh random password each time');

  const cost10 = await dummyHashLike(h(htpasswdBcrypt, 'bob'));
  t.equal(hashFamily(cost10), 'bcrypt:10');

  const da = await dummyHashLike(ARGON_LOW);
  t.equal(hashFamily(da), 'argon2id:m=256,t=1,p=1');
  t.equal(await verifyPassword(da, utf8('gina-secret')), false);
  const shortSalt = await argon2.hash(utf8('x'), { memoryCost: 64, timeCost: 3, parallelism: 2, outputLen: 24, salt: Buffer.alloc(8, 1) });
  t.match(argon2.parseOptions(await dummyHashLike(shortSalt)), { memoryCost: 64, timeCost: 3, parallelism: 2, outputLen: 24, saltLen: 8 });

  await t.rejects(dummyHashLike(h(rejected, 'shauser')), { message: 'dummyHashLike: unsupported hash scheme' });
});
