import t, { type Test } from 'tap';
import { FORWARD_AUTH_PATH, isForwardAuthPath, originalFacts, type CheckRequest } from '../../../src/forward-auth/facts.js';
import { buildFacts } from '../../../src/pipeline/facts.js';
import { compileTrustedProxies } from '../../../src/pipeline/trusted-proxies.js';

const trusted = compileTrustedProxies(['10.0.0.1', '10.0.0.2']);
const LIMITS = { headerCount: 100, targetBytes: 4096, bodyBytes: 1_000_000 };

/** A check request as an ingress at `peer` sends it, through proxy mode's buildFacts. */
function check(url: string, pairs: Array<[string, string]>, opts: { method?: string; peer?: string } = {}): CheckRequest {
  const withHost: Array<[string, string]> = pairs.some(([n]) => n.toLowerCase() === 'host') ? pairs : [['Host', 'gatehouse:8080'], ...pairs];
  const rawHeaders = withHost.flat();
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (headers[name] === undefined) headers[name] = rawHeaders[i + 1]!;
  }
  const built = buildFacts({ method: opts.method ?? 'GET', url, headers, rawHeaders, peer: opts.peer ?? '10.0.0.1', scheme: 'http' }, LIMITS, trusted);
  if (!built.ok) throw new Error(`check request refused: ${built.reason}`);
  return { facts: built.facts, url };
}

const nginx = (url: string, method = 'GET', extra: Array<[string, string]> = []): CheckRequest =>
  check(FORWARD_AUTH_PATH, [['X-Original-URL', url], ['X-Original-Method', method], ...extra]);
const traefik = (uri: string, extra: Array<[string, string]> = []): CheckRequest =>
  check(FORWARD_AUTH_PATH, [['X-Forwarded-Method', 'GET'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'app.example.com'], ['X-Forwarded-Uri', uri], ...extra]);

function refusal(t: Test, req: CheckRequest, code: string, reason: string, limits = LIMITS): void {
  const r = originalFacts(req, limits);
  t.same(r, { ok: false, code, reason }, reason);
}

t.test('isForwardAuthPath: the endpoint and everything below it, nothing beside it', async (t) => {
  for (const p of ['/.gatehouse/auth', '/.gatehouse/auth/', '/.gatehouse/auth/api/x']) t.equal(isForwardAuthPath(p), true, p);
  for (const p of ['/.gatehouse/authx', '/.gatehouse/auth.json', '/.gatehouse/login', '/auth']) t.equal(isForwardAuthPath(p), false, p);
});

t.test('an untrusted peer is refused whatever it sends', async (t) => {
  refusal(t, check(FORWARD_AUTH_PATH, [['X-Original-URL', 'http://app/x'], ['X-Original-Method', 'GET']], { peer: '192.0.2.9' }), 'GATEHOUSE_ERR_FORWARD_AUTH_UNTRUSTED', 'untrusted-peer');
});

t.test('nginx: X-Original-URL and X-Original-Method give the original request', async (t) => {
  const r = originalFacts(nginx('https://App.Example.com:443/a/b?x=1&y', 'POST', [['X-Forwarded-For', '198.51.100.7, 10.0.0.2'], ['Authorization', 'Basic Zm9vOmJhcg==']]), LIMITS);
  t.equal(r.ok, true);
  if (!r.ok) return;
  t.equal(r.style, 'nginx');
  const f = r.facts;
  t.same(
    { method: f.method, scheme: f.scheme, authority: f.authority, hostname: f.hostname, path: f.path, query: f.query, peer: f.peer, peerTrusted: f.peerTrusted, clientIp: f.clientIp },
    { method: 'POST', scheme: 'https', authority: 'app.example.com', hostname: 'app.example.com', path: '/a/b', query: 'x=1&y', peer: '10.0.0.1', peerTrusted: true, clientIp: '198.51.100.7' },
  );
  // The original's Host, not gatehouse's; every other header as the ingress passed it.
  t.equal(f.headers.host, 'app.example.com');
  t.equal(f.headers.authorization, 'Basic Zm9vOmJhcg==');
  t.same(f.rawHeaders.slice(0, 2), ['Host', 'app.example.com']);
  t.equal(f.rawHeaders.includes('gatehouse:8080'), false);
});

t.test('nginx: the URL decides host and scheme, whatever X-Forwarded-Host/-Proto claim', async (t) => {
  const r = originalFacts(nginx('http://app:8080/x', 'GET', [['X-Forwarded-Host', 'admin.example.com'], ['X-Forwarded-Proto', 'https']]), LIMITS);
  t.equal(r.ok && `${r.facts.scheme}://${r.facts.authority}`, 'http://app:8080');
});

t.test('nginx: a URL without path or with only a query targets /', async (t) => {
  const a = originalFacts(nginx('http://app'), LIMITS);
  t.equal(a.ok && a.facts.path, '/');
  const b = originalFacts(nginx('http://app?q=1'), LIMITS);
  t.same(b.ok && [b.facts.path, b.facts.query], ['/', 'q=1']);
});

t.test('nginx: X-Original-URI, when also sent, must name the same target', async (t) => {
  const same = originalFacts(nginx('http://app/a?b', 'GET', [['X-Original-URI', '/a?b']]), LIMITS);
  t.equal(same.ok && same.facts.path, '/a');
  refusal(t, nginx('http://app/a?b', 'GET', [['X-Original-URI', '/admin']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-uri-mismatch');
});

t.test('nginx: X-Original-URI alone takes its host from X-Forwarded-Host, its scheme from X-Forwarded-Proto', async (t) => {
  const r = originalFacts(check(FORWARD_AUTH_PATH, [['X-Original-URI', '/p?q'], ['X-Original-Method', 'PUT'], ['X-Forwarded-Host', 'App.example.com'], ['X-Forwarded-Proto', 'https']]), LIMITS);
  t.same(r.ok && [r.style, r.facts.method, r.facts.scheme, r.facts.authority, r.facts.path, r.facts.query], ['nginx', 'PUT', 'https', 'app.example.com', '/p', 'q']);
  // Never the check's own Host: that names gatehouse.
  refusal(t, check(FORWARD_AUTH_PATH, [['X-Original-URI', '/p'], ['X-Original-Method', 'GET']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-host-missing');
});

t.test('nginx: method and target are both required', async (t) => {
  refusal(t, check(FORWARD_AUTH_PATH, [['X-Original-URL', 'http://app/']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-method-missing');
  refusal(t, check(FORWARD_AUTH_PATH, [['X-Original-Method', 'GET']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-uri-missing');
});

t.test('nginx: malformed URLs and hosts are refused with the proxy-mode codes', async (t) => {
  refusal(t, nginx('/just/a/path'), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'original-url-not-absolute');
  refusal(t, nginx('ftp://app/x'), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'original-url-scheme');
  refusal(t, nginx('http://user@app/x'), 'GATEHOUSE_ERR_REQUEST_BAD_HOST', 'original-bad-host');
  refusal(t, nginx('http:///x'), 'GATEHOUSE_ERR_REQUEST_BAD_HOST', 'original-missing-host');
});

t.test('traefik: X-Forwarded-Method/-Proto/-Host/-Uri give the original request', async (t) => {
  const r = originalFacts(traefik('/api/v1?x=%20y', [['X-Forwarded-For', '203.0.113.5']]), LIMITS);
  t.equal(r.ok, true);
  if (!r.ok) return;
  t.same([r.style, r.facts.method, r.facts.scheme, r.facts.authority, r.facts.path, r.facts.query, r.facts.clientIp], ['traefik', 'GET', 'https', 'app.example.com', '/api/v1', 'x=%20y', '203.0.113.5']);
});

t.test('traefik: method, target and host are required', async (t) => {
  refusal(t, check(FORWARD_AUTH_PATH, [['X-Forwarded-Uri', '/'], ['X-Forwarded-Host', 'app']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-method-missing');
  refusal(t, check(FORWARD_AUTH_PATH, [['X-Forwarded-Method', 'GET'], ['X-Forwarded-Host', 'app']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-uri-missing');
  refusal(t, check(FORWARD_AUTH_PATH, [['X-Forwarded-Method', 'GET'], ['X-Forwarded-Uri', '/']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-host-missing');
  refusal(t, check(FORWARD_AUTH_PATH, [['X-Forwarded-Method', 'GET'], ['X-Forwarded-Uri', '/'], ['X-Forwarded-Host', 'bad host']]), 'GATEHOUSE_ERR_REQUEST_BAD_HOST', 'original-bad-host');
});

t.test('envoy: the path after /.gatehouse/auth, the method and Host of the check itself', async (t) => {
  const r = originalFacts(check('/.gatehouse/auth/api/orders/42?expand=1', [['Host', 'shop.example.com'], ['X-Forwarded-Proto', 'https'], ['X-Real-IP', '203.0.113.9']], { method: 'DELETE' }), LIMITS);
  t.equal(r.ok, true);
  if (!r.ok) return;
  t.same([r.style, r.facts.method, r.facts.scheme, r.facts.authority, r.facts.path, r.facts.query, r.facts.clientIp], ['envoy', 'DELETE', 'https', 'shop.example.com', '/api/orders/42', 'expand=1', '203.0.113.9']);
  const root = originalFacts(check('/.gatehouse/auth/', [['Host', 'shop']]), LIMITS);
  t.same(root.ok && [root.style, root.facts.path], ['envoy', '/']);
});

t.test('no contract, or two at once, is refused: a client may add headers of its own', async (t) => {
  refusal(t, check(FORWARD_AUTH_PATH, []), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'contract-missing');
  refusal(t, check(`${FORWARD_AUTH_PATH}?x=1`, [['X-Forwarded-Host', 'app']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'contract-missing');
  refusal(t, nginx('http://app/public', 'GET', [['X-Forwarded-Uri', '/admin']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'contract-ambiguous-nginx-traefik');
  refusal(t, traefik('/public', [['X-Original-Method', 'GET']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'contract-ambiguous-nginx-traefik');
  refusal(t, check('/.gatehouse/auth/', [['X-Original-URL', 'http://app/admin'], ['X-Original-Method', 'GET']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'contract-ambiguous-nginx-envoy');
  refusal(t, check('/.gatehouse/auth/x', [['X-Forwarded-Uri', '/admin']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'contract-ambiguous-traefik-envoy');
});

t.test('a repeated contract header is ambiguous', async (t) => {
  refusal(t, nginx('http://app/public', 'GET', [['x-original-url', 'http://app/admin']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'duplicate-x-original-url');
  refusal(t, traefik('/a', [['X-Forwarded-Host', 'other']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'duplicate-x-forwarded-host');
});

t.test('the check path must be the endpoint spelled literally', async (t) => {
  // These normalize to the endpoint, but the rest is not what the ingress forwards.
  for (const url of ['/.gatehouse/./auth/x', '//.gatehouse/auth/x', '/.gatehouse/x/../auth/y', '/%2Egatehouse/auth/x']) {
    refusal(t, check(url, [['Host', 'app']]), 'GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED', 'check-path-not-normalized');
  }
  // Dot segments after the literal prefix are the original path's own: refused with it.
  refusal(t, check('/.gatehouse/auth/../auth/x', [['Host', 'app']]), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'above-root');
});

t.test('the original method: a token, and not one proxy mode refuses', async (t) => {
  refusal(t, nginx('http://app/', 'GET /admin'), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-method-invalid');
  refusal(t, nginx('http://app/', ''), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'original-method-invalid');
  refusal(t, nginx('http://app/', 'trace'), 'GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED', 'method-refused');
  const r = originalFacts(nginx('http://app/', 'PROPFIND'), LIMITS);
  t.equal(r.ok && r.facts.method, 'PROPFIND');
});

t.test('the original target: bounded, origin-form, and refused as proxy mode refuses it', async (t) => {
  refusal(t, traefik('/' + 'a'.repeat(100)), 'GATEHOUSE_ERR_REQUEST_TARGET_TOO_LONG', 'target-length', { ...LIMITS, targetBytes: 100 });
  refusal(t, traefik('http://other/x'), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'not-origin-form');
  refusal(t, traefik('*'), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'not-origin-form');
  refusal(t, check(FORWARD_AUTH_PATH, [['X-Original-URI', 'x'], ['X-Original-Method', 'GET'], ['X-Forwarded-Host', 'app']]), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'not-origin-form');
  refusal(t, traefik('/a%2Fb'), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'encoded-slash');
  refusal(t, traefik('/a\\b'), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'backslash');
  refusal(t, traefik('/a#b'), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'fragment');
  refusal(t, traefik('/../x'), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'above-root');
  refusal(t, nginx('http://app/%zz'), 'GATEHOUSE_ERR_REQUEST_BAD_TARGET', 'bad-percent-encoding');
});

t.test('security.md §2: a target the normalizer would change is refused, never decided', async (t) => {
  const changed = ['/a/../b', '/a/./b', '/a//b', '//a', '/a/.', '/%41dmin', '/a%2eb', '/a/%2E%2E/b', '/p/%7e', '/x/..'];
  for (const target of changed) {
    refusal(t, traefik(target), 'GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED', 'not-normalized');
    refusal(t, nginx(`http://app${target}?q`), 'GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED', 'not-normalized');
    refusal(t, check(`/.gatehouse/auth${target}`, [['Host', 'app']]), 'GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED', 'not-normalized');
  }
});

t.test('§2: spellings that mean the same path to every upstream are decided', async (t) => {
  const same: Array<[string, string]> = [
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a"b|c', '/a%22b%7Cc'],
    ['/a%25b', '/a%25b'],
    ['/a/b/', '/a/b/'],
    ['/a;x=1/b', '/a;x=1/b'],
    ['/', '/'],
  ];
  for (const [target, path] of same) {
    const r = originalFacts(traefik(target), LIMITS);
    t.equal(r.ok && r.facts.path, path, target);
  }
  // The query plays no part: it is not normalized, not compared.
  const q = originalFacts(traefik('/a?x=/../%41'), LIMITS);
  t.same(q.ok && [q.facts.path, q.facts.query], ['/a', 'x=/../%41']);
});

t.test('client address: X-Forwarded-For by the trusted-proxy rule, else X-Real-IP, else the ingress', async (t) => {
  const ip = (extra: Array<[string, string]>): string | false => {
    const r = originalFacts(nginx('http://app/', 'GET', extra), LIMITS);
    return r.ok && r.facts.clientIp;
  };
  t.equal(ip([['X-Forwarded-For', '192.0.2.1, 198.51.100.2, 10.0.0.2'], ['X-Real-IP', '203.0.113.1']]), '198.51.100.2');
  t.equal(ip([['X-Real-IP', '203.0.113.1']]), '203.0.113.1');
  t.equal(ip([['X-Real-IP', ' ::ffff:203.0.113.2 ']]), '203.0.113.2');
  t.equal(ip([['X-Real-IP', '2001:db8::1']]), '2001:db8::1');
  t.equal(ip([['X-Real-IP', 'unknown']]), '10.0.0.1');
  t.equal(ip([]), '10.0.0.1');
  refusal(t, nginx('http://app/', 'GET', [['X-Real-IP', '203.0.113.1'], ['X-Real-IP', '203.0.113.2']]), 'GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST', 'duplicate-x-real-ip');
});

t.test('envoy: what proxy mode refuses in the check itself never gets here', async (t) => {
  // Envoy's original method and path are the check's own: buildFacts refuses them first.
  const built = (method: string, url: string): string | undefined => {
    const r = buildFacts({ method, url, headers: { host: 'app' }, rawHeaders: ['Host', 'app'], peer: '10.0.0.1', scheme: 'http' }, LIMITS, trusted);
    return r.ok ? undefined : r.reason;
  };
  t.equal(built('TRACE', '/.gatehouse/auth/x'), 'method-refused');
  t.equal(built('GET', '/.gatehouse/auth/a%2fb'), 'encoded-slash');
});
