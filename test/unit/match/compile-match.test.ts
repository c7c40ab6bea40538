import t from 'tap';
import { compileMatch, parseMatchSpec, type CompiledMatch, type RouteMatchSpec } from '../../../src/pipeline/match/compile-match.js';
import { normalizeHost } from '../../../src/pipeline/normalize/host.js';
import { normalizeTarget } from '../../../src/pipeline/normalize/target.js';

function compile(spec: RouteMatchSpec): CompiledMatch {
  const r = compileMatch(spec);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.match;
}

function errorsOf(spec: RouteMatchSpec) {
  const r = compileMatch(spec);
  return r.ok ? [] : r.errors;
}

t.test('no path and no regex: every path', async (t) => {
  const m = compile({});
  for (const p of ['/', '/a', '/a/b/', '/.gatehouse/x']) t.equal(m.test('GET', 'h', p), true, p);
  t.equal(m.test('PATCH', 'anything.example', '/'), true);
  const parsed = parseMatchSpec({});
  t.equal(parsed.ok && parsed.parsed.path?.source, '/**');
});

t.test('methods', async (t) => {
  const m = compile({ path: '/a', methods: ['GET', 'post', 'Purge'] });
  t.equal(m.test('GET', 'h', '/a'), true);
  t.equal(m.test('POST', 'h', '/a'), true);
  t.equal(m.test('PURGE', 'h', '/a'), true);
  t.equal(m.test('HEAD', 'h', '/a'), false, 'HEAD is not implied by GET');
  t.equal(m.test('get', 'h', '/a'), false, 'methods are case-sensitive on the wire (RFC 9110 §9.1)');
  t.equal(m.test('DELETE', 'h', '/a'), false);
  t.equal(m.test('GET', 'h', '/b'), false);
  t.equal(compile({ methods: ['GET', 'GET'] }).test('GET', 'h', '/'), true);
});

t.test('host', async (t) => {
  const exact = compile({ host: 'App.Example.com.' });
  t.equal(exact.test('GET', 'app.example.com', '/'), true);
  t.equal(exact.test('GET', 'example.com', '/'), false);
  t.equal(exact.test('GET', 'x.app.example.com', '/'), false);
  const wild = compile({ host: '*.example.com', path: '/api/**' });
  t.equal(wild.test('GET', 'a.example.com', '/api/x'), true);
  t.equal(wild.test('GET', 'example.com', '/api/x'), false);
  t.equal(wild.test('GET', 'a.example.com', '/apix'), false);
  // the matcher receives hostname from normalizeHost: the port never takes part
  const h = normalizeHost('App.Example.com.:8443', 'https');
  t.equal(h.ok && exact.test('GET', h.hostname, '/'), true);
});

t.test('caseSensitive: false', async (t) => {
  const m = compile({ path: '/Admin/**', caseSensitive: false });
  t.equal(m.test('GET', 'h', '/admin/x'), true);
  t.equal(m.test('GET', 'h', '/ADMIN'), true);
  t.equal(m.test('GET', 'h', '/administrator'), false);
  const cs = compile({ path: '/Admin/**' });
  t.equal(cs.test('GET', 'h', '/admin/x'), false);
  t.equal(cs.test('GET', 'h', '/Admin/x'), true);
});

t.test('regex', async (t) => {
  const m = compile({ regex: '/v[0-9]+/users/[^/]+' });
  t.equal(m.test('GET', 'h', '/v1/users/bob'), true);
  t.equal(m.test('GET', 'h', '/x/v1/users/bob'), false, 'anchored at the start');
  t.equal(m.test('GET', 'h', '/v1/users/bob/x'), false, 'anchored at the end');
  t.equal(m.test('GET', 'h', '/V1/users/bob'), false);
  const alt = compile({ regex: '/a|/b' });
  t.equal(alt.test('GET', 'h', '/a'), true);
  t.equal(alt.test('GET', 'h', '/b'), true);
  t.equal(alt.test('GET', 'h', '/a/x'), false, 'alternation stays inside the anchors');
  t.equal(alt.test('GET', 'h', '/x/b'), false);
  const ci = compile({ regex: '/admin/.*', caseSensitive: false });
  t.equal(ci.test('GET', 'h', '/ADMIN/x'), true);
  // runs repeatedly without state (no g/y flag)
  for (let i = 0; i < 3; i++) t.equal(m.test('GET', 'h', '/v2/users/x'), true);
  // matches the normalized path, never the raw one or the query
  const n = normalizeTarget('/v1/x/../users/%62ob?y=/v9/users/evil', 'h', 'http');
  t.equal(n.ok && m.test('GET', 'h', n.path), true);
  const parsed = parseMatchSpec({ regex: '/a' });
  t.equal(parsed.ok && parsed.parsed.path, undefined);
  t.equal(parsed.ok && parsed.parsed.regex?.ignoreCase, false);
});

t.test('regex that would escape the anchors is refused', async (t) => {
  for (const regex of ['/public)|(.*', '/a)|(?:/b', ')(', '/x)|^(.*']) {
    const errs = errorsOf({ regex });
    t.equal(errs.length, 1, regex);
    t.equal(errs[0]?.key, 'regex');
    t.match(errs[0]?.message, /not a valid regular expression/);
  }
});

t.test('a regex with nested quantifiers (exponential backtracking) is refused at load', async (t) => {
  for (const regex of ['/(a+)+', '/x/([a-z]*)*y', '(/[^/]+)+/end', '/((ab)*c)*']) {
    const errs = errorsOf({ regex });
    t.equal(errs.length, 1, regex);
    t.equal(errs[0]?.key, 'regex');
    t.match(errs[0]?.message, /exponential time/);
  }
  // One level of repetition is linear enough; these stay accepted.
  for (const regex of ['/v[0-9]+/users/[^/]+', '/reports/[0-9]+', '/a|/b', '/files/.*\\.pdf']) t.same(errorsOf({ regex }), [], regex);
});

t.test('errors: every problem of a spec is reported', async (t) => {
  const errs = errorsOf({ host: 'a.*.com', path: '/a*', regex: '(', methods: ['GET', 'BAD METHOD', '', 'P/T'] });
  t.strictSame(
    errs.map((e) => e.key),
    ['host', 'path', 'regex', 'regex', 'methods[1]', 'methods[2]', 'methods[3]'],
  );
  t.match(errs[2]?.message, /use either path or regex/);
  t.match(errs[3]?.message, /not a valid regular expression/);
  t.match(errs[4]?.message, /not a valid HTTP method/);
});

t.test('errors: individual keys', async (t) => {
  t.strictSame(errorsOf({ path: '/a', regex: '/a' }), [{ key: 'regex', message: 'use either path or regex, not both' }]);
  t.strictSame(errorsOf({ regex: '' }), [{ key: 'regex', message: 'must not be empty' }]);
  t.strictSame(errorsOf({ methods: [] }), [
    { key: 'methods', message: 'must list at least one method; omit methods to allow every method' },
  ]);
  t.strictSame(errorsOf({ methods: [42 as unknown as string] }), [{ key: 'methods[0]', message: 'is not a valid HTTP method name' }]);
  t.strictSame(errorsOf({ methods: ['GET\r\n'] }).map((e) => e.key), ['methods[0]']);
  t.strictSame(errorsOf({ host: '' }).map((e) => e.key), ['host']);
  t.strictSame(errorsOf({ path: '/a%2fb' }), [
    { key: 'path', message: 'must not contain %2F: requests with an encoded slash are refused' },
  ]);
  t.strictSame(errorsOf({ path: 'admin' }), [{ key: 'path', message: "must start with '/'" }]);
  t.strictSame(errorsOf({ path: '/**/a' }), [{ key: 'path', message: "'**' is only allowed as the last segment" }]);
});

t.test('spec is a frozen copy', async (t) => {
  const methods = ['GET'];
  const spec: RouteMatchSpec = { path: '/a', methods, caseSensitive: false };
  const m = compile(spec);
  t.strictSame(m.spec, { path: '/a', methods: ['GET'], caseSensitive: false });
  t.ok(Object.isFrozen(m.spec) && Object.isFrozen(m.spec.methods) && Object.isFrozen(m));
  methods.push('POST');
  t.strictSame(m.spec.methods, ['GET']);
  t.equal(m.test('POST', 'h', '/a'), false, 'later edits of the input do not change the matcher');
  t.strictSame(compile({ path: '/a' }).spec, { path: '/a' });
});
