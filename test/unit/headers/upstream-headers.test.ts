import t from 'tap';
import { buildUpstreamHeaders, createHeaderPolicy, type RouteHeaderRules } from '../../../src/pipeline/headers/upstream-headers.js';
import { compileTemplate } from '../../../src/pipeline/headers/template.js';
import type { Identity, RequestFacts } from '../../../src/pipeline/types.js';

const identityNames = { user: 'X-Auth-User', email: 'X-Auth-Email', name: 'X-Auth-Name', groups: 'X-Auth-Groups', method: 'X-Auth-Method', route: 'X-Auth-Route' };
const policy = createHeaderPolicy(identityNames, ['X-Auth-'], ['X-Tenant']);
const tenant = compileTemplate('{claims.tenant}');
if (!tenant.ok) throw new Error('template');

const route: RouteHeaderRules = { name: 'api', templates: [{ header: 'X-Tenant', render: tenant.render }], forwardCredentials: false, allowMethodOverride: false, preserveHost: false, assertionAudience: 'http://127.0.0.1:9000' };
const alice: Identity = { user: 'alice', email: 'a@x.io', name: 'Alice', groups: ['staff', 'a,b'], scopes: [], claims: { tenant: 'acme' }, method: 'basic', authenticator: 'staff' };
const anon: Identity = { groups: [], scopes: [], claims: {}, method: 'anonymous', authenticator: 'anonymous' };

function facts(rawHeaders: string[], extra: Partial<RequestFacts> = {}): RequestFacts {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i]!.toLowerCase();
    const prior = headers[k];
    headers[k] = prior === undefined ? rawHeaders[i + 1]! : [prior, rawHeaders[i + 1]!].flat().join(', ');
  }
  return { method: 'GET', scheme: 'http', authority: 'app.example.com', hostname: 'app.example.com', path: '/x', query: '', headers, rawHeaders, peer: '203.0.113.9', peerTrusted: false, clientIp: '203.0.113.9', ...extra };
}

function build(raw: string[], opts: { identity?: Identity; route?: Partial<RouteHeaderRules>; consumed?: 'authorization' | 'none'; f?: Partial<RequestFacts>; upgrade?: boolean } = {}) {
  return buildUpstreamHeaders({
    facts: facts(raw, opts.f),
    policy,
    route: { ...route, ...opts.route },
    identity: opts.identity ?? alice,
    consumed: opts.consumed ?? 'authorization',
    requestId: 'rid-1',
    upstreamAuthority: '127.0.0.1:9000',
    upgrade: opts.upgrade ?? false,
  });
}

t.test('identity headers come from the identity only, in every spelling a client tries', async (t) => {
  const spoofs = ['X-Auth-User', 'x-auth-user', 'X_Auth_User', 'x.auth.user', 'X-AUTH-USER', 'X-Auth-Email', 'X-Auth-Groups', 'X-Auth-Anything', 'x_auth_route', 'X-Tenant', 'x_tenant', 'X.Tenant'];
  const raw = spoofs.flatMap((n) => [n, 'root']);
  const out = build(raw);
  t.equal(out['x-auth-user'], 'alice');
  t.equal(out['x-auth-email'], 'a@x.io');
  t.equal(out['x-auth-name'], 'Alice');
  t.equal(out['x-auth-groups'], 'staff,a%2Cb');
  t.equal(out['x-auth-method'], 'basic');
  t.equal(out['x-auth-route'], 'api');
  t.equal(out['x-tenant'], 'acme');
  for (const name of Object.keys(out)) t.notOk(Object.values(out).includes('root'), `no spoofed value survives (${name})`);
  t.notOk('x_auth_user' in out || 'x.auth.user' in out || 'x-auth-anything' in out || 'x_tenant' in out);
});

t.test('anonymous routes send only method and route', async (t) => {
  const out = build(['X-Auth-User', 'root'], { identity: anon });
  t.equal(out['x-auth-method'], 'anonymous');
  t.equal(out['x-auth-route'], 'api');
  t.notOk('x-auth-user' in out || 'x-auth-groups' in out || 'x-tenant' in out || 'x-auth-email' in out);
});

t.test('absent identity fields are omitted, never empty', async (t) => {
  const out = build([], { identity: { ...alice, email: undefined, name: undefined, groups: [], claims: {} } });
  t.notOk('x-auth-email' in out || 'x-auth-name' in out || 'x-auth-groups' in out || 'x-tenant' in out);
  t.equal(out['x-auth-user'], 'alice');
});

t.test('Connection-nominated headers are dropped but cannot remove what gatehouse sets', async (t) => {
  const out = build(['Connection', 'close, X-Auth-User, X-Forwarded-For, X-Custom', 'X-Custom', '1', 'Keep-Alive', 'timeout=5', 'Upgrade', 'h2c', 'TE', 'trailers', 'Proxy-Authorization', 'Basic x', 'Expect', '100-continue']);
  t.equal(out['x-auth-user'], 'alice');
  t.equal(out['x-forwarded-for'], '203.0.113.9');
  t.notOk('x-custom' in out);
  for (const h of ['connection', 'keep-alive', 'upgrade', 'te', 'proxy-authorization', 'expect']) t.notOk(h in out, h);
});

t.test('forwarded headers: replaced for untrusted peers', async (t) => {
  const out = build(['X-Forwarded-For', '1.2.3.4', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil.com', 'X-Forwarded-Port', '1', 'X-Forwarded-Prefix', '/evil', 'Forwarded', 'for=1.2.3.4', 'X-Real-IP', '1.2.3.4', 'X_Forwarded_For', '5.6.7.8']);
  t.equal(out['x-forwarded-for'], '203.0.113.9');
  t.equal(out['x-forwarded-proto'], 'http');
  t.equal(out['x-forwarded-host'], 'app.example.com');
  t.equal(out['x-real-ip'], '203.0.113.9');
  t.equal(out.forwarded, 'for=203.0.113.9;host="app.example.com";proto=http');
  t.notOk('x-forwarded-port' in out || 'x-forwarded-prefix' in out || 'x_forwarded_for' in out);
});

t.test('forwarded headers: appended for trusted peers, in canonical spelling only', async (t) => {
  const out = build(['X-Forwarded-For', '198.51.100.7, 10.0.0.2', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'public.example.com', 'X-Forwarded-Port', '443', 'Forwarded', 'for=198.51.100.7', 'X-Real-IP', '198.51.100.7', 'X_Forwarded_For', '6.6.6.6'], {
    f: { peer: '10.0.0.1', peerTrusted: true, clientIp: '198.51.100.7' },
  });
  t.equal(out['x-forwarded-for'], '198.51.100.7, 10.0.0.2, 10.0.0.1');
  t.equal(out['x-forwarded-proto'], 'https');
  t.equal(out['x-forwarded-host'], 'public.example.com');
  t.equal(out['x-forwarded-port'], '443');
  t.equal(out['x-real-ip'], '198.51.100.7');
  t.equal(out.forwarded, 'for=198.51.100.7, for=10.0.0.1;host="app.example.com";proto=http');
});

t.test('IPv6 peers are quoted in Forwarded (RFC 7239 §6)', async (t) => {
  const out = build([], { f: { peer: '2001:db8::1', clientIp: '2001:db8::1' } });
  t.equal(out.forwarded, 'for="[2001:db8::1]";host="app.example.com";proto=http');
});

t.test('the checked credential stays at the gate unless the route forwards it', async (t) => {
  t.notOk('authorization' in build(['Authorization', 'Basic eDp5']));
  t.equal(build(['Authorization', 'Basic eDp5'], { route: { forwardCredentials: true } }).authorization, 'Basic eDp5');
  t.equal(build(['Authorization', 'Bearer other'], { consumed: 'none', identity: anon }).authorization, 'Bearer other');
});

t.test('method override headers are removed unless allowed', async (t) => {
  const raw = ['X-HTTP-Method-Override', 'DELETE', 'X-HTTP-Method', 'DELETE', 'X-Method-Override', 'DELETE', 'x_http_method_override', 'DELETE'];
  const out = build(raw);
  t.same(Object.keys(out).filter((k) => k.includes('method-override') || k.includes('http-method') || k.includes('http_method')), []);
  t.equal(build(raw, { route: { allowMethodOverride: true } })['x-http-method-override'], 'DELETE');
});

t.test('Host is the upstream authority unless preserved; request id is ours', async (t) => {
  t.equal(build(['Host', 'app.example.com', 'X-Request-Id', 'client-chosen'])['host'], '127.0.0.1:9000');
  t.equal(build(['X-Request-Id', 'client-chosen'])['x-request-id'], 'rid-1');
  t.equal(build(['Host', 'app.example.com'], { route: { preserveHost: true } }).host, 'app.example.com');
});

t.test('other headers pass, duplicates kept in order', async (t) => {
  const out = build(['Accept', 'text/html', 'X-Thing', '1', 'x-thing', '2', 'Content-Length', '5']);
  t.equal(out.accept, 'text/html');
  t.same(out['x-thing'], ['1', '2']);
  t.equal(out['content-length'], '5');
  const three = build(['X-A', '1', 'X-A', '2', 'X-A', '3']);
  t.same(three['x-a'], ['1', '2', '3']);
});

t.test('a WebSocket handshake keeps Connection: Upgrade and its Upgrade token', async (t) => {
  const out = build(['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k'], { upgrade: true });
  t.equal(out.connection, 'Upgrade');
  t.equal(out.upgrade, 'websocket');
  t.equal(out['sec-websocket-key'], 'k');
});
