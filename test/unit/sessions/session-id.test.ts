import { createHash } from 'node:crypto';
import t from 'tap';
import { SESSION_ID_LENGTH, isWellFormedSessionId, newSessionId, storageKey } from '../../../src/sessions/session-id.js';

t.test('newSessionId: 32 random bytes, base64url, 43 characters, well-formed', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const id = newSessionId();
    t.equal(id.length, SESSION_ID_LENGTH);
    t.match(id, /^[A-Za-z0-9_-]{43}$/);
    t.equal(Buffer.from(id, 'base64url').length, 32);
    t.equal(isWellFormedSessionId(id), true);
    seen.add(id);
  }
  t.equal(seen.size, 200, 'no repeats');
});

t.test('storageKey: sha256 base64url, never the id', async (t) => {
  t.equal(storageKey('abc'), createHash('sha256').update('abc').digest('base64url'));
  t.equal(storageKey('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  const id = newSessionId();
  t.not(storageKey(id), id);
  t.equal(storageKey(id), storageKey(id), 'stable');
});

t.test('isWellFormedSessionId: exactly the canonical 43-character form', async (t) => {
  const canonical = Buffer.alloc(32, 0xff).toString('base64url');
  t.equal(canonical, '__________________________________________8');
  t.equal(isWellFormedSessionId(canonical), true);
  t.equal(isWellFormedSessionId('__________________________________________9'), false, 'non-zero trailing bits');
  t.equal(isWellFormedSessionId('__________________________________________'), false, '42 characters');
  t.equal(isWellFormedSessionId('__________________________________________8A'), false, '44 characters');
  t.equal(isWellFormedSessionId('+_________________________________________8'), false, 'base64, not base64url');
  t.equal(isWellFormedSessionId('__________________________________________8='), false, 'padding');
  t.equal(isWellFormedSessionId(''), false);
  t.equal(isWellFormedSessionId(`${canonical}\n`), false, 'trailing newline');
});
