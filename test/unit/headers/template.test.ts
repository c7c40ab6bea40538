import t from 'tap';
import { compileTemplate, lookupClaim } from '../../../src/pipeline/headers/template.js';
import type { Identity } from '../../../src/pipeline/types.js';

const identity: Identity = {
  user: 'alice',
  email: 'alice@example.com',
  name: 'Alice',
  groups: ['staff', 'a,b'],
  scopes: ['read'],
  claims: { tenant: 'acme', org: { id: 42, tags: ['x', 'y'], meta: { k: 'v' } }, empty: '', nil: null },
  method: 'basic',
  authenticator: 'staff',
};

function render(template: string): string | undefined {
  const c = compileTemplate(template);
  if (!c.ok) throw new Error(c.message);
  return c.render({ identity, route: 'api' });
}

t.test('placeholders render from the identity', async (t) => {
  t.equal(render('{user}'), 'alice');
  t.equal(render('{email}'), 'alice@example.com');
  t.equal(render('{name}'), 'Alice');
  t.equal(render('{groups}'), 'staff,a%2Cb');
  t.equal(render('{scopes}'), 'read');
  t.equal(render('{method}'), 'basic');
  t.equal(render('{authenticator}'), 'staff');
  t.equal(render('{route}'), 'api');
  t.equal(render('{claims.tenant}'), 'acme');
  t.equal(render('tenant={claims.tenant}; org={claims.org.id}'), 'tenant=acme; org=42');
  t.equal(render('{claims.org.tags}'), 'x,y');
  t.equal(render('{claims.org.meta}'), '{"k":"v"}');
  t.equal(render('{ user }'), 'alice');
  t.equal(render('static'), 'static');
});

t.test('a missing value drops the whole header', async (t) => {
  t.equal(render('{claims.missing}'), undefined);
  t.equal(render('x-{claims.empty}'), undefined);
  t.equal(render('{claims.nil}'), undefined);
  t.equal(render('{claims.tenant.deeper}'), undefined);
  const noEmail = compileTemplate('{email}');
  t.ok(noEmail.ok);
  if (noEmail.ok) t.equal(noEmail.render({ identity: { ...identity, email: undefined, groups: [] }, route: 'r' }), undefined);
  const noGroups = compileTemplate('{groups}');
  if (noGroups.ok) t.equal(noGroups.render({ identity: { ...identity, groups: [] }, route: 'r' }), undefined);
});

t.test('claim values cannot smuggle a header', async (t) => {
  const c = compileTemplate('{claims.evil}');
  t.ok(c.ok);
  if (c.ok) t.equal(c.render({ identity: { ...identity, claims: { evil: 'x\r\nX-Auth-User: root' } }, route: 'r' }), 'x%0D%0AX-Auth-User: root');
});

t.test('invalid templates are compile errors', async (t) => {
  t.match(compileTemplate('{usr}'), { ok: false, message: /unknown placeholder "\{usr\}"/ });
  t.match(compileTemplate('{claims.}'), { ok: false, message: /invalid claim path/ });
  t.match(compileTemplate('{claims.a..b}'), { ok: false, message: /invalid claim path/ });
  t.match(compileTemplate('{user'), { ok: false, message: /unbalanced/ });
  t.match(compileTemplate('user}'), { ok: false, message: /unbalanced/ });
  t.match(compileTemplate('{user}}'), { ok: false, message: /unbalanced/ });
  t.match(compileTemplate('a\nb'), { ok: false, message: /printable ASCII/ });
  t.match(compileTemplate('é{user}'), { ok: false, message: /printable ASCII/ });
});

t.test('lookupClaim only follows own properties of plain objects', async (t) => {
  t.equal(lookupClaim({ a: { b: 1 } }, 'a.b'), 1);
  t.equal(lookupClaim({ a: [1, 2] }, 'a.0'), undefined);
  t.equal(lookupClaim({}, 'constructor'), undefined);
  t.equal(lookupClaim({ a: 'x' }, '__proto__'), undefined);
});
