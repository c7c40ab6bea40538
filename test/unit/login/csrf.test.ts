import { createHmac, hkdfSync } from 'node:crypto';
import t from 'tap';
import { CSRF_TOKEN_LENGTH, createCsrfTokens } from '../../../src/login/csrf.js';

const A = Buffer.alloc(32, 'a');
const B = Buffer.alloc(32, 'b');
const C = Buffer.alloc(32, 'c');

t.test('a token verifies for its binding only', async (t) => {
  const csrf = createCsrfTokens([A]);
  const token = csrf.issue('login:local:cookie-1');
  t.equal(token.length, CSRF_TOKEN_LENGTH);
  t.equal(CSRF_TOKEN_LENGTH, 64);
  t.match(token, /^[A-Za-z0-9_-]{64}$/, 'base64url, no padding');
  t.equal(csrf.verify(token, 'login:local:cookie-1'), true);
  t.equal(csrf.verify(token, 'login:local:cookie-2'), false, 'another cookie');
  t.equal(csrf.verify(token, 'login:other:cookie-1'), false, 'another provider');
  t.equal(csrf.verify(token, ''), false, 'empty binding');
});

t.test('tokens are randomized per issue (BREACH) and all verify', async (t) => {
  const csrf = createCsrfTokens([A]);
  const one = csrf.issue('b');
  const two = csrf.issue('b');
  t.not(one, two);
  t.equal(csrf.verify(one, 'b'), true);
  t.equal(csrf.verify(two, 'b'), true);
});

t.test('the MAC is HMAC-SHA256 under an HKDF key with info "gatehouse csrf"', async (t) => {
  const token = createCsrfTokens([A]).issue('bind');
  const raw = Buffer.from(token, 'base64url');
  const nonce = raw.subarray(0, 16);
  const key = Buffer.from(hkdfSync('sha256', A, Buffer.alloc(0), 'gatehouse csrf', 32));
  const expected = createHmac('sha256', key).update(nonce).update('bind').digest();
  t.same(raw.subarray(16), expected);
  const rawSecretMac = createHmac('sha256', A).update(nonce).update('bind').digest();
  t.notSame(raw.subarray(16), rawSecretMac, 'the secret itself is never the HMAC key');
});

t.test('rotation: the first secret issues, every secret verifies', async (t) => {
  const old = createCsrfTokens([B]);
  const rotated = createCsrfTokens([A, B]);
  const fresh = createCsrfTokens([A]);
  const oldToken = old.issue('x');
  t.equal(rotated.verify(oldToken, 'x'), true, 'a token from the previous secret still verifies');
  const newToken = rotated.issue('x');
  t.equal(fresh.verify(newToken, 'x'), true, 'issued with the first secret');
  t.equal(old.verify(newToken, 'x'), false, 'not with the second');
  t.equal(createCsrfTokens([C]).verify(oldToken, 'x'), false, 'an unrelated secret verifies nothing');
});

t.test('undefined, garbled, tampered and over-long tokens are refused', async (t) => {
  const csrf = createCsrfTokens([A]);
  const token = csrf.issue('x');
  t.equal(csrf.verify(undefined, 'x'), false, 'undefined');
  t.equal(csrf.verify('', 'x'), false, 'empty');
  t.equal(csrf.verify(token.slice(0, -1), 'x'), false, 'one character short');
  t.equal(csrf.verify(token + 'A', 'x'), false, 'one character long');
  t.equal(csrf.verify(token + token, 'x'), false, 'doubled');
  t.equal(csrf.verify('A'.repeat(100_000), 'x'), false, 'very long');
  t.equal(csrf.verify(token.replace(/[A-Za-z0-9_-]$/, (c) => (c === 'A' ? 'B' : 'A')), 'x'), false, 'last character changed');
  t.equal(csrf.verify((token[0] === 'A' ? 'B' : 'A') + token.slice(1), 'x'), false, 'nonce changed');
  t.equal(csrf.verify(token.slice(0, -2) + '==', 'x'), false, 'padding');
  t.equal(csrf.verify(token.slice(0, -1) + '+', 'x'), false, 'base64 (not url) alphabet');
  t.equal(csrf.verify(token.slice(0, -1) + '\u00e9', 'x'), false, 'non-ASCII');
  t.equal(csrf.verify(' ' + token.slice(1), 'x'), false, 'space');
  t.equal(csrf.verify(Buffer.alloc(48).toString('base64url'), 'x'), false, 'all-zero token of the right shape');
  t.equal(csrf.verify(123 as unknown as string, 'x'), false, 'not a string');
});

t.test('at least one secret is required', async (t) => {
  t.throws(() => createCsrfTokens([]), /at least one secret/);
});
