import t from 'tap';
import { compilePathPattern, describePathRefusal, type PathPattern } from '../../../src/pipeline/match/path-pattern.js';
import { normalizeTarget } from '../../../src/pipeline/normalize/target.js';

function compile(raw: string, caseSensitive = true): PathPattern {
  const r = compilePathPattern(raw, caseSensitive);
  if (!r.ok) throw new Error(`${raw}: ${r.message}`);
  return r.pattern;
}

// [pattern, paths that match, paths that must not]
const MATCHES: Array<[string, string[], string[]]> = [
  ['/', ['/'], ['/a', '//', '/a/']],
  ['/a/b', ['/a/b'], ['/a/b/', '/a', '/a/bc', '/a/b/c', '/A/b', '/a/B', '/x/a/b', '/ab', '/a']],
  ['/a/b/', ['/a/b/'], ['/a/b', '/a/b/c', '/a/b//']],
  ['/admin/**', ['/admin', '/admin/', '/admin/x', '/admin/x/y/', '/admin/x/y/z'], ['/administrator', '/admin.php', '/', '/Admin', '/x/admin', '/admi', '/admin;x']],
  ['/**', ['/', '/a', '/a/b/', '/.gatehouse/login'], ['', 'a', 'http://h/']],
  ['/*', ['/a', '/abc', '/*'], ['/', '/a/', '/a/b']],
  ['/*/', ['/a/'], ['/a', '/', '/a/b']],
  ['/a/*', ['/a/b', '/a/*'], ['/a', '/a/', '/a/b/', '/a/b/c', '/b/c']],
  ['/a/*/c', ['/a/b/c', '/a/xyz/c'], ['/a/c', '/a//c', '/a/b/c/', '/a/b/d', '/a/b/c/d']],
  ['/*/**', ['/a', '/a/', '/a/b/c'], ['/']],
  ['/a/*/**', ['/a/b', '/a/b/', '/a/b/c'], ['/a', '/a/']],
  ['/*/*', ['/a/b'], ['/a', '/a/', '/a/b/', '/a/b/c']],
  ['/a;b', ['/a;b'], ['/a', '/a%3Bb']],
  ['/a%3Bb', ['/a%3Bb'], ['/a;b']],
  ['/%c3%a9/**', ['/%C3%A9', '/%C3%A9/x'], ['/%C3%A9x', '/%c3%a9']],
  ['/%7e', ['/~'], ['/%7E']],
  ['//a//b', ['/a/b'], ['//a//b']],
  ['/a/./b/../c', ['/a/c'], ['/a/b/c']],
  ['/a/b/.', ['/a/b/'], ['/a/b']],
  ['/a/b/**', ['/a/b', '/a/b/c'], ['/a', '/a/', '/a/bc']],
  ['/healthz', ['/healthz'], ['/healthz/', '/healthz/x', '/Healthz']],
];

t.test('matching table (case-sensitive)', async (t) => {
  for (const [pattern, yes, no] of MATCHES) {
    const p = compile(pattern);
    for (const path of yes) t.equal(p.test(path), true, `${pattern} matches ${path}`);
    for (const path of no) t.equal(p.test(path), false, `${pattern} does not match ${path}`);
  }
});

t.test('case-insensitive', async (t) => {
  const p = compile('/Admin/*/X%C3%A9', false);
  t.equal(p.caseSensitive, false);
  for (const path of ['/admin/a/x%C3%A9', '/ADMIN/b/X%C3%A9', '/aDmIn/ZZ/x%C3%A9']) t.equal(p.test(path), true, path);
  for (const path of ['/admin/x%C3%A9', '/admins/a/x%C3%A9', '/admin/a/y%C3%A9', '/admin/a/x%C3%A9/']) t.equal(p.test(path), false, path);
  const tail = compile('/API/**', false);
  for (const path of ['/api', '/Api/', '/aPi/V1/x']) t.equal(tail.test(path), true, path);
  t.equal(tail.test('/apix'), false);
  // folding is ASCII-only: no Unicode case mapping (K = Kelvin sign) can sneak in
  const k = compile('/k', false);
  t.equal(k.test('/K'), true);
  t.equal(k.test('/\u212a'), false);
  t.equal(compile('/i', false).test('/\u0130'), false); // dotted capital I
  // non-letters are not folded: '@' (0x40) and '[' (0x5B) surround A-Z
  t.equal(compile('/`', false).test('/@'), false);
  t.equal(compile('/%7B', false).test('/%5B'), false);
});

t.test('paths that are not normalized absolute paths never match', async (t) => {
  for (const pattern of ['/a', '/*', '/a/**', '/**', '/']) {
    for (const path of ['', 'a', '*', 'a/b', '?']) t.equal(compile(pattern).test(path), false, `${pattern} vs ${path}`);
  }
});

t.test('case-sensitive by default', async (t) => {
  const r = compilePathPattern('/A');
  t.equal(r.ok && r.pattern.caseSensitive, true);
  t.equal(r.ok && r.pattern.test('/a'), false);
});

t.test('compiled shape', async (t) => {
  const p = compile('/A/*/b/**');
  t.equal(p.source, '/A/*/b/**');
  t.strictSame(p.segments, [{ kind: 'literal', value: 'A' }, { kind: 'star' }, { kind: 'literal', value: 'b' }]);
  t.equal(p.tail, true);
  t.ok(Object.isFrozen(p) && Object.isFrozen(p.segments));
  const root = compile('/**');
  t.strictSame(root.segments, []);
  t.equal(root.tail, true);
  const slash = compile('/');
  t.strictSame(slash.segments, [{ kind: 'literal', value: '' }]);
  t.equal(slash.tail, false);
  t.equal(compile('/%7e/x%c3%a9').source, '/~/x%C3%A9');
});

t.test('config errors', async (t) => {
  const errors: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['admin', /must start with '\/'/],
    ['/a?x=1', /query/],
    ['/a#x', /'#'/],
    ['/a\\b', /'\\'/],
    ['/a b', /control/],
    ['/é', /ASCII/],
    ['/a%zz', /two hex digits/],
    ['/%c3', /UTF-8/],
    ['/a%2Fb', /%2F/],
    ['/a%5cb', /%5C/],
    ['/a%00', /control/],
    ['/a%252e', /%252E/],
    ['/..', /above the root/],
    ['/a*', /whole segment/],
    ['/*a', /whole segment/],
    ['/a/***', /whole segment/],
    ['/a/**b', /whole segment/],
    ['/**/a', /last segment/],
    ['/a/**/', /last segment/],
    ['/**/**', /last segment/],
    ['/a/*/..', /'\.\.' segment after/],
    ['/a/**/../b', /'\.\.' segment after/],
    ['/*/%2e%2e/x', /'\.\.' segment after/],
    ['/*/.%2E', /'\.\.' segment after/],
  ];
  for (const [pattern, re] of errors) {
    const r = compilePathPattern(pattern);
    t.equal(r.ok, false, pattern);
    if (!r.ok) t.match(r.message, re, pattern);
  }
  // '..' before any glob is plain normalization
  t.equal(compile('/a/../b/*').source, '/b/*');
  t.equal(compile('/a/*/.').source, '/a/*/');
});

t.test('describePathRefusal covers every reason', async (t) => {
  for (const reason of ['asterisk-form', 'not-origin-form', 'bad-absolute-form', 'authority-mismatch'] as const) {
    t.equal(describePathRefusal(reason), "must start with '/'");
  }
});

t.test('differential: test() agrees with a regex model on random normalized paths', async (t) => {
  let seed = 99;
  const next = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  const litSegs = ['a', 'A', 'b', 'ab', 'x%C3%A9', ';', ''];
  const pathSegs = ['a', 'A', 'b', 'ab', 'aB', 'x%C3%A9', 'X%C3%A9', ';', 'c'];
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const failures: string[] = [];
  let matched = 0;
  for (let i = 0; i < 3000; i++) {
    const n = Math.floor(next() * 4);
    const segs: string[] = [];
    for (let k = 0; k < n; k++) segs.push(next() < 0.3 ? '*' : pick(litSegs.filter((s) => s !== '')));
    const tail = next() < 0.4;
    const trailingSlash = !tail && next() < 0.2;
    let pattern = '/' + segs.join('/');
    if (tail) pattern += (segs.length ? '/' : '') + '**';
    else if (trailingSlash && segs.length) pattern += '/';
    const cs = next() < 0.5;
    const model = new RegExp(
      '^' +
        (segs.length === 0 && tail
          ? '/.*'
          : segs.length === 0
            ? '/'
            : segs.map((s) => '/' + (s === '*' ? '[^/]+' : escape(s))).join('') + (tail ? '(?:/.*)?' : trailingSlash ? '/' : '')) +
        '$',
      cs ? '' : 'i',
    );
    const p = compile(pattern, cs);
    for (let j = 0; j < 20; j++) {
      const m = Math.floor(next() * 5);
      const parts: string[] = [];
      for (let k = 0; k < m; k++) parts.push(pick(pathSegs));
      const raw = '/' + parts.join('/') + (next() < 0.2 ? '/' : '');
      const norm = normalizeTarget(raw, 'h', 'http');
      if (!norm.ok) throw new Error(raw);
      const want = model.test(norm.path);
      if (want) matched++;
      if (p.test(norm.path) !== want) failures.push(`${pattern} (${cs ? 'cs' : 'ci'}) vs ${norm.path}: model ${want}`);
    }
  }
  t.strictSame(failures.slice(0, 20), []);
  t.ok(matched > 3000, `matched ${matched}`);
});
