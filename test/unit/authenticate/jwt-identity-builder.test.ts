// createIdentityBuilder (paths split once, per authenticator) builds what identityFromClaims
// builds, and reads claims the way header templates and allow.claims do (lookupClaim).
import t from 'tap';
import { createIdentityBuilder, identityFromClaims, type ClaimsMapping } from '../../../src/pipeline/authenticate/claims-identity.js';
import { lookupClaim } from '../../../src/pipeline/headers/template.js';

const mapping: ClaimsMapping = { user: 'sub', email: 'email', name: 'profile.name', groups: 'realm_access.roles', scopes: 'scope' };

const claimSets = (): Record<string, unknown>[] => [
  { sub: 'alice', email: 'a@example.com', profile: { name: 'Alice' }, realm_access: { roles: ['admin', 'staff'] }, scope: 'read write' },
  { sub: 'bob' },
  { sub: 'carol', email: '', profile: { name: 5 }, realm_access: { roles: 'a b a' }, scope: ['x', 1, 'x', ''] },
  { sub: 'dan', profile: ['Dan'], realm_access: null, scope: 42 },
  { sub: '' },
  { sub: 7 },
  {},
  JSON.parse('{"sub":"eve","__proto__":{"name":"x"},"profile":{"__proto__":{"name":"p"}}}') as Record<string, unknown>,
];

t.test('the same identities as identityFromClaims, frozen the same way', async (t) => {
  for (const m of [mapping, { user: 'sub' }, { user: 'profile.name', groups: 'scope' }, { user: '__proto__.name' }] as ClaimsMapping[]) {
    const build = createIdentityBuilder(m, 'jwt', 'partners');
    const a = claimSets();
    const b = claimSets();
    for (let i = 0; i < a.length; i++) {
      const got = build(a[i]!);
      const expected = identityFromClaims(b[i]!, m, 'jwt', 'partners');
      t.same(got, expected, `${JSON.stringify(m)} ${JSON.stringify(b[i])}`);
      if (got === undefined) continue;
      t.same(Object.keys(got), Object.keys(expected!), 'members in the same order');
      t.ok(Object.isFrozen(got) && Object.isFrozen(got.groups) && Object.isFrozen(got.scopes) && Object.isFrozen(got.claims));
      t.equal(got.claims, a[i], 'the claims object itself is kept');
    }
  }
});

t.test('paths are read as lookupClaim reads them', async (t) => {
  const claims = claimSets()[7]!;
  for (const path of ['sub', 'profile.name', '__proto__.name', 'toString', 'constructor.name', 'profile', 'missing.x']) {
    const build = createIdentityBuilder({ user: path }, 'introspection', 'p');
    const v = lookupClaim(claims, path);
    t.equal(build(claims)?.user, typeof v === 'string' && v !== '' ? v : undefined, path);
  }
});

t.test('claims are frozen deeply, own members only', async (t) => {
  const nested = { deep: [{ x: 1 }] };
  const claims: Record<string, unknown> = Object.create({ inherited: { y: 1 } });
  Object.assign(claims, { sub: 'a', nested });
  const id = createIdentityBuilder({ user: 'sub' }, 'jwt', 'p')(claims);
  t.equal(id?.user, 'a');
  t.ok(Object.isFrozen(nested) && Object.isFrozen(nested.deep) && Object.isFrozen(nested.deep[0]));
  t.notOk(Object.isFrozen(Object.getPrototypeOf(claims).inherited), 'inherited members are not ours to freeze');
});
