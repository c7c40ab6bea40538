import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERRORS, errorBody, errorStatus } from '../../src/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\| (GATEHOUSE_ERR_[A-Z_]+) \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]),
);

t.test('every code is documented in docs/errors.md with its status', async (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.equal(rows.get(code), spec.status, code);
  }
});

t.test('the docs list no code that does not exist', async (t) => {
  for (const code of rows.keys()) t.ok(code in ERRORS, code);
});

t.test('codes are unique and well-formed; messages are distinct', async (t) => {
  const codes = Object.keys(ERRORS);
  t.equal(new Set(codes).size, codes.length);
  for (const code of codes) t.match(code, /^GATEHOUSE_ERR_[A-Z]+(_[A-Z0-9]+)*$/);
  const messages = Object.values(ERRORS).map((e) => e.message);
  t.equal(new Set(messages).size, messages.length);
});

t.test('bodies have the documented shape and a reason phrase', async (t) => {
  for (const code of Object.keys(ERRORS) as Array<keyof typeof ERRORS>) {
    const body = errorBody(code, 'rid');
    t.same(Object.keys(body), ['error', 'code', 'message', 'requestId']);
    t.not(body.error, 'Error', `${code} has a reason phrase`);
    t.equal(errorStatus(code), ERRORS[code].status);
  }
});
