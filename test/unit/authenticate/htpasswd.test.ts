import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseHtpasswd } from '../../../src/pipeline/authenticate/htpasswd.js';

const read = (name: string): string => readFileSync(new URL(`../../fixtures/htpasswd/${name}`, import.meta.url), 'utf8');
const ACCEPTED = '(accepted: bcrypt $2a$/$2b$/$2y$, argon2id)';
const B = '$2y$04$Iz6ldMe2WGpVTnvNzlgbiO0ti9bGdz6y9dEsnW55lMMUcGM6Fqs86'; // alice's, from the fixture
const A = '$argon2id$v=19$m=256,t=1,p=1$JH4GLa+e0TN8FbQtmHil5g$JRiDHEOaM6hsTUCXkR2R6kpMGb95cRk2lUtWBYNYQNQ';

t.test('fixtures written by htpasswd and @node-rs load without errors', async (t) => {
  const a = parseHtpasswd(read('htpasswd-bcrypt.htpasswd'));
  t.same(a.errors, []);
  t.same([...a.entries.keys()], ['alice', 'bob', 'carol', 'émile']);
  t.equal(a.entries.get('alice'), B);
  const b = parseHtpasswd(read('node-hashes.htpasswd'));
  t.same(b.errors, []);
  t.same([...b.entries.keys()], ['dora', 'erin', 'frank', 'gina']);
  t.equal(b.entries.get('gina'), A);
});

t.test('every refused scheme is an error naming the line and the family, never the hash', async (t) => {
  const text = read('rejected.htpasswd');
  const { entries, errors } = parseHtpasswd(text);
  t.equal(entries.size, 0);
  t.same(errors, [
    { line: 2, message: `user "md5user": unsupported hash scheme $apr1$ ${ACCEPTED}` },
    { line: 3, message: `user "shauser": unsupported hash scheme {SHA} ${ACCEPTED}` },
    { line: 4, message: `user "sha256user": unsupported hash scheme $5$ ${ACCEPTED}` },
    { line: 5, message: `user "sha512user": unsupported hash scheme $6$ ${ACCEPTED}` },
    { line: 6, message: `user "cryptuser": unrecognized hash format: plain text, DES crypt or an unknown scheme ${ACCEPTED}` },
    { line: 7, message: `user "plainuser": unrecognized hash format: plain text, DES crypt or an unknown scheme ${ACCEPTED}` },
    { line: 8, message: `user "argon2iuser": unsupported hash scheme $argon2i$ ${ACCEPTED}` },
    { line: 9, message: `user "argon2duser": unsupported hash scheme $argon2d$ ${ACCEPTED}` },
  ]);
  // No part of any hash after its scheme prefix appears in any message.
  for (const line of text.split('\n').slice(1)) {
    if (line === '') continue;
    const hash = line.slice(line.indexOf(':') + 1);
    const tail = hash.replace(/^(\$[a-z0-9]+\$|\{SHA\})/, '');
    for (const e of errors) t.notOk(e.message.includes(tail), `message ${e.line} does not quote ${line.split(':')[0]}'s hash`);
  }
});

t.test('a plain-text password that looks like a scheme prefix is not quoted', async (t) => {
  const { errors } = parseHtpasswd('u1:$hunter2$rest\nu2:{hunter2}x\nu3:hunter2\nu4:$2y$04$hunter2\nu5:$argon2id$hunter2\nu6:\n');
  t.same(
    errors.map((e) => e.line),
    [1, 2, 3, 4, 5, 6],
  );
  for (const e of errors) t.notMatch(e.message, /hunter2/, `line ${e.line}`);
  t.equal(errors[3]!.message, 'user "u4": malformed bcrypt hash ($2y$ prefix, but not cost 04-31 followed by 53 characters)');
  t.equal(
    errors[4]!.message,
    'user "u5": malformed or unsupported argon2id hash (expected $argon2id$v=19$m=…,t=…,p=…$salt$digest with m at most 2097152)',
  );
  t.equal(errors[5]!.message, 'user "u6": empty hash');
  const lower = parseHtpasswd('u:{ssha}abcdef\n');
  t.equal(lower.errors[0]!.message, `user "u": unsupported hash scheme {ssha} ${ACCEPTED}`);
});

t.test('comments, blank lines, CRLF, BOM and trailing blanks', async (t) => {
  const text = `\uFEFFalice:${B}\r\n# a comment\r\n\r\n   \r\n  # indented comment\r\nbob:${A} \t\r\n\n`;
  const { entries, errors } = parseHtpasswd(text);
  t.same(errors, []);
  t.same([...entries], [
    ['alice', B],
    ['bob', A],
  ]);
  t.same(parseHtpasswd(''), { entries: new Map(), errors: [] });
});

t.test('line errors: no colon, empty user, whitespace, control characters', async (t) => {
  const text = ['alice', `:${B}`, ` bob:${B}`, `carl :${B}`, `da\u0001ve:${B}`, `ed\u0085:${B}`, `ok:${B}`].join('\n');
  const { entries, errors } = parseHtpasswd(text);
  t.same(errors, [
    { line: 1, message: 'expected user:hash (no ":" found)' },
    { line: 2, message: 'empty user name' },
    { line: 3, message: 'user name " bob" has leading or trailing whitespace' },
    { line: 4, message: 'user name "carl " has leading or trailing whitespace' },
    { line: 5, message: 'user name contains a control character' },
    { line: 6, message: 'user name contains a control character' },
  ]);
  t.same([...entries.keys()], ['ok']);
});

t.test('the user ends at the first colon; a hash with a colon is refused', async (t) => {
  const { entries, errors } = parseHtpasswd(`a:b:${B}\n`);
  t.equal(entries.size, 0);
  t.same(errors, [{ line: 1, message: `user "a": unrecognized hash format: plain text, DES crypt or an unknown scheme ${ACCEPTED}` }]);
});

t.test('a duplicate user is an error naming both lines; the first entry stays', async (t) => {
  const { entries, errors } = parseHtpasswd(`alice:${B}\nbob:${B}\n\nalice:${A}\n`);
  t.same(errors, [{ line: 4, message: 'duplicate user "alice" (first on line 1)' }]);
  t.equal(entries.get('alice'), B);
  // Names are compared exactly: case and Unicode form make different users.
  const exact = parseHtpasswd(`alice:${B}\nAlice:${B}\n\u00e9:${B}\ne\u0301:${B}\n`);
  t.same(exact.errors, []);
  t.equal(exact.entries.size, 4);
});
