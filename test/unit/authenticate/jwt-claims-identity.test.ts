import t from 'tap';
import { claimList, identityFromClaims } from '../../../src/pipeline/authenticate/claims-identity.js';

t.test('claimList', async (t) => {
  t.same(claimList('read write'), ['read', 'write']);
  t.same(claimList('  read   write '), ['read', 'write'], 'empty items dropped');
  t.same(claimList('read,write'), ['read,write'], 'comma is not a separator');
  t.same(claimList('read\twrite'), ['read\twrite'], 'tab is not a separator');
  t.same(claimList(''), []);
  t.same(claimList(['a', 'b c', 'a', '', 1, null, ['x'], { y: 1 }]), ['a', 'b c'], 'array: strings kept as is, deduplicated');
  t.same(claimList(5), []);
  t.same(claimList({ 0: 'a' }), []);
  t.same(claimList(undefined), []);
  t.same(claimList(null), []);
});

const mapping = { user: 'sub', email: 'email', name: 'profile.name', groups: 'realm_access.roles', scopes: 'scope' };

t.test('identityFromClaims maps dotted paths', async (t) => {
  const claims = { sub: 'alice', email: 'a@example.com', profile: { name: 'Alice' }, realm_access: { roles: ['admin', 'staff'] }, scope: 'read write', extra: { deep: [1] } };
  const id = identityFromClaims(claims, mapping, 'jwt', 'partners');
  t.same(id, {
    user: 'alice',
    email: 'a@example.com',
    name: 'Alice',
    groups: ['admin', 'staff'],
    scopes: ['read', 'write'],
    claims,
    method: 'jwt',
    authenticator: 'partners',
  });
  t.equal(id!.claims, claims, 'the whole claims object is kept');
  t.ok(Object.isFrozen(id));
  t.ok(Object.isFrozen(id!.groups) && Object.isFrozen(id!.scopes));
  t.ok(Object.isFrozen(claims) && Object.isFrozen(claims.extra) && Object.isFrozen(claims.extra.deep), 'claims are deeply frozen (shared by the cache)');
});

t.test('groups as a space-separated string, scopes as an array', async (t) => {
  const id = identityFromClaims({ sub: 'bob', groups: 'a b', scp: ['x', 'y'] }, { user: 'sub', groups: 'groups', scopes: 'scp' }, 'introspection', 'opaque');
  t.same(id?.groups, ['a', 'b']);
  t.same(id?.scopes, ['x', 'y']);
  t.equal(id?.method, 'introspection');
});

t.test('user missing or not a string: undefined', async (t) => {
  for (const claims of [{}, { sub: 1 }, { sub: ['alice'] }, { sub: null }, { sub: '' }, { sub: { id: 'alice' } }]) {
    t.equal(identityFromClaims(claims, mapping, 'jwt', 'p'), undefined, JSON.stringify(claims));
  }
  t.equal(identityFromClaims({ user: { id: 7 } }, { user: 'user.id' }, 'jwt', 'p'), undefined);
  t.equal(identityFromClaims({ user: { id: '7' } }, { user: 'user.id' }, 'jwt', 'p')?.user, '7');
});

t.test('optional fields of the wrong type are left out', async (t) => {
  const id = identityFromClaims({ sub: 'a', email: ['x@y'], profile: { name: 5 }, realm_access: { roles: 5 }, scope: 42 }, mapping, 'jwt', 'p');
  t.same(id, { user: 'a', groups: [], scopes: [], claims: id!.claims, method: 'jwt', authenticator: 'p' });
  t.notOk('email' in id! || 'name' in id!);
});

t.test('unmapped fields are empty', async (t) => {
  const id = identityFromClaims({ sub: 'a', email: 'x@y', groups: ['g'], scope: 's' }, { user: 'sub' }, 'jwt', 'p');
  t.same(id, { user: 'a', groups: [], scopes: [], claims: id!.claims, method: 'jwt', authenticator: 'p' });
});

t.test('paths never read the prototype chain', async (t) => {
  const claims = JSON.parse('{"sub":"a","__proto__":{"polluted":"x"}}') as Record<string, unknown>;
  t.equal(identityFromClaims(claims, { user: 'toString' }, 'jwt', 'p'), undefined);
  t.equal(identityFromClaims(claims, { user: 'constructor.name' }, 'jwt', 'p'), undefined);
  t.equal(identityFromClaims(claims, { user: '__proto__.polluted' }, 'jwt', 'p')?.user, 'x', 'an own "__proto__" member is data');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});
