import t from 'tap';
import { ERRORS } from '../../../src/errors.js';
import { denyAnswer, errorAnswer, isBrowserNavigation } from '../../../src/pipeline/respond/deny.js';
import type { RequestFacts } from '../../../src/pipeline/types.js';
import type { Decision } from '../../../src/pipeline/run.js';

const route = { name: 'r' } as Extract<Decision, { kind: 'deny' }>['route'];
function deny(code: keyof typeof ERRORS, extra: Partial<Extract<Decision, { kind: 'deny' }>> = {}): Extract<Decision, { kind: 'deny' }> {
  return { kind: 'deny', route, code, reasons: ['x'], attempts: [], challenges: ['Basic realm="a", charset="UTF-8"', 'Basic realm="b", charset="UTF-8"'], ...extra };
}

t.test('no route: 404', async (t) => {
  const a = denyAnswer({ kind: 'no-route' }, 'rid');
  t.equal(a.status, 404);
  t.same(a.body, { error: 'Not Found', code: 'GATEHOUSE_ERR_ROUTE_NOT_FOUND', message: ERRORS.GATEHOUSE_ERR_ROUTE_NOT_FOUND.message, requestId: 'rid' });
});

t.test('401 carries one challenge per header-based authenticator', async (t) => {
  const a = denyAnswer(deny('GATEHOUSE_ERR_AUTH_REQUIRED'), 'rid');
  t.equal(a.status, 401);
  t.same(a.headers['www-authenticate'], ['Basic realm="a", charset="UTF-8"', 'Basic realm="b", charset="UTF-8"']);
  t.equal(a.headers['cache-control'], 'no-store');
  t.notOk(JSON.stringify(a.body).includes('"x"'), 'reasons never reach the client');
});

t.test('403 has no challenge; 429 has Retry-After', async (t) => {
  t.notOk('www-authenticate' in denyAnswer(deny('GATEHOUSE_ERR_AUTHZ_FORBIDDEN'), 'rid').headers);
  const throttled = denyAnswer(deny('GATEHOUSE_ERR_AUTH_THROTTLED', { retryAfter: 12.2 }), 'rid');
  t.equal(throttled.status, 429);
  t.equal(throttled.headers['retry-after'], '13');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_AUTH_THROTTLED', { retryAfter: 0 }), 'rid').headers['retry-after'], '1');
  t.notOk('retry-after' in denyAnswer(deny('GATEHOUSE_ERR_AUTH_THROTTLED'), 'rid').headers);
});

t.test('403 insufficient_scope carries its challenge; other 403s do not', async (t) => {
  const a = denyAnswer(deny('GATEHOUSE_ERR_AUTHZ_INSUFFICIENT_SCOPE', { challenges: ['Bearer realm="x", error="insufficient_scope", scope="a"'] }), 'rid');
  t.equal(a.status, 403);
  t.same(a.headers['www-authenticate'], ['Bearer realm="x", error="insufficient_scope", scope="a"']);
});

t.test('errorAnswer merges extra headers', async (t) => {
  const a = errorAnswer('GATEHOUSE_ERR_UPSTREAM_TIMEOUT', 'rid', { 'x-a': '1' });
  t.equal(a.status, 504);
  t.same(a.headers, { 'cache-control': 'no-store', 'x-a': '1' });
  t.equal(a.body.error, 'Gateway Timeout');
});

t.test('a browser on a session route is sent to sign in, with where it was going', async (t) => {
  const sessionRoute = { name: 's', signInRedirect: true } as Extract<Decision, { kind: 'deny' }>['route'];
  const browser = { method: 'GET', path: '/app/x', query: 'a=1&b=%2F', headers: { accept: 'text/html,application/xhtml+xml;q=0.9' } } as unknown as RequestFacts;
  const a = denyAnswer(deny('GATEHOUSE_ERR_AUTH_REQUIRED', { route: sessionRoute }), 'rid', browser);
  t.equal(a.status, 302);
  t.equal(a.headers.location, '/.gatehouse/login?rd=%2Fapp%2Fx%3Fa%3D1%26b%3D%252F');
  t.equal(a.headers['cache-control'], 'no-store');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_SESSION_INVALID', { route: sessionRoute }), 'rid', { ...browser, query: '' }).headers.location, '/.gatehouse/login?rd=%2Fapp%2Fx', 'a bad cookie: sign in again');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_AUTH_REQUIRED', { route: sessionRoute }), 'rid', { ...browser, method: 'HEAD' }).status, 302);
  // Not a page load: API clients get the 401 they can act on.
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_AUTH_REQUIRED', { route: sessionRoute }), 'rid', { ...browser, method: 'POST' }).status, 401, 'POST');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_AUTH_REQUIRED', { route: sessionRoute }), 'rid', { ...browser, headers: { accept: 'application/json' } }).status, 401, 'JSON');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_AUTH_REQUIRED', { route: sessionRoute }), 'rid', { ...browser, headers: { accept: 'text/htmlx' } }).status, 401, 'not text/html');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_AUTH_REQUIRED', { route: sessionRoute }), 'rid', { ...browser, headers: {} }).status, 401, 'no Accept');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_AUTH_REQUIRED', { route }), 'rid', browser).status, 401, 'route without a session authenticator');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_AUTHZ_FORBIDDEN', { route: sessionRoute }), 'rid', browser).status, 403, 'signed in but not allowed: no loop');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE', { route: sessionRoute }), 'rid', browser).status, 503, 'store down: 503, never a redirect');
  t.equal(denyAnswer(deny('GATEHOUSE_ERR_AUTH_REQUIRED', { route: sessionRoute }), 'rid').status, 401, 'without facts (explain, upgrades)');
  t.equal(isBrowserNavigation({ ...browser, headers: { accept: 'TEXT/HTML' } }), true);
});
