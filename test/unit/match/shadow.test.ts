import t from 'tap';
import { compileMatch, type RouteMatchSpec } from '../../../src/pipeline/match/compile-match.js';
import { findShadowed } from '../../../src/pipeline/match/shadow.js';

/** Does earlier route `a` shadow later route `b`? */
const shadows = (a: RouteMatchSpec, b: RouteMatchSpec) => findShadowed([a, b]).length === 1;

// [A, B, A shadows B]
const PAIRS: Array<[RouteMatchSpec, RouteMatchSpec, boolean]> = [
  // paths
  [{}, {}, true],
  [{}, { path: '/a' }, true],
  [{ path: '/**' }, { path: '/a/**', host: 'x.com', methods: ['GET'] }, true],
  [{ path: '/a' }, { path: '/a' }, true],
  [{ path: '/a' }, { path: '/b' }, false],
  [{ path: '/a' }, { path: '/a/' }, false],
  [{ path: '/a/' }, { path: '/a' }, false],
  [{ path: '/a' }, { path: '/a/**' }, false],
  [{ path: '/a/**' }, { path: '/a' }, true],
  [{ path: '/a/**' }, { path: '/a/' }, true],
  [{ path: '/a/**' }, { path: '/a/b/c' }, true],
  [{ path: '/a/**' }, { path: '/a/**' }, true],
  [{ path: '/a/**' }, { path: '/a/*/**' }, true],
  [{ path: '/a/**' }, { path: '/ab' }, false],
  [{ path: '/a/**' }, { path: '/**' }, false],
  [{ path: '/a/b/**' }, { path: '/a/**' }, false],
  [{ path: '/a/*/**' }, { path: '/a/**' }, false],
  [{ path: '/a/*/**' }, { path: '/a/' }, false],
  [{ path: '/*/**' }, { path: '/' }, false],
  [{ path: '/*/**' }, { path: '/x' }, true],
  [{ path: '/*' }, { path: '/a' }, true],
  [{ path: '/*' }, { path: '/*' }, true],
  [{ path: '/*' }, { path: '/' }, false],
  [{ path: '/a/*' }, { path: '/a/' }, false],
  [{ path: '/a' }, { path: '/*' }, false],
  [{ path: '/*/b' }, { path: '/a/b' }, true],
  [{ path: '/*/b' }, { path: '/a/c' }, false],
  [{ path: '/*' }, { path: '/a/b' }, false],
  [{ path: '/*/*' }, { path: '/a' }, false],
  [{ path: '/*' }, { path: '/**' }, false],
  [{ path: '/' }, { path: '/' }, true],
  [{ path: '/a/./b' }, { path: '/a/b' }, true],
  [{ path: '/%7e' }, { path: '/~' }, true],
  // case
  [{ path: '/A' }, { path: '/a' }, false],
  [{ path: '/A', caseSensitive: false }, { path: '/a' }, true],
  [{ path: '/A', caseSensitive: false }, { path: '/a', caseSensitive: false }, true],
  [{ path: '/a' }, { path: '/a', caseSensitive: false }, false],
  [{ path: '/1-_' }, { path: '/1-_', caseSensitive: false }, true],
  [{ path: '/%C3%A9' }, { path: '/%c3%a9', caseSensitive: false }, true],
  [{ path: '/x%C3%A9' }, { path: '/x%C3%A9', caseSensitive: false }, false],
  [{ path: '/a/**' }, { path: '/a/**', caseSensitive: false }, false], // B matches /A/x
  [{ path: '/a/**', caseSensitive: false }, { path: '/a/**', caseSensitive: false }, true],
  [{ path: '/*' }, { path: '/ABC', caseSensitive: false }, true],
  [{ path: '/b/**', caseSensitive: false }, { path: '/B/c' }, true],
  // regex
  [{ regex: '/a.*' }, { regex: '/a.*' }, true],
  [{ regex: '/a.*' }, { regex: '/a.+' }, false],
  [{ regex: '/a.*' }, { path: '/a' }, false],
  [{ regex: '/.*' }, { path: '/a' }, false],
  [{ regex: '/a.*', caseSensitive: false }, { regex: '/a.*' }, true],
  [{ regex: '/a.*' }, { regex: '/a.*', caseSensitive: false }, false],
  [{ path: '/**' }, { regex: '/a.*' }, true],
  [{}, { regex: '/a.*', caseSensitive: false }, true],
  [{ path: '/a/**' }, { regex: '/a/.*' }, false],
  [{ path: '/*' }, { regex: '/[^/]+' }, false],
  // hosts
  [{ host: 'a.x.com' }, { host: 'a.x.com' }, true],
  [{ host: 'A.x.com.' }, { host: 'a.x.com' }, true],
  [{ host: 'a.x.com' }, { host: 'b.x.com' }, false],
  [{ host: 'a.x.com' }, {}, false],
  [{}, { host: 'a.x.com' }, true],
  [{ host: '*.x.com' }, { host: 'a.x.com' }, true],
  [{ host: '*.x.com' }, { host: '*.a.x.com' }, true],
  [{ host: '*.x.com' }, { host: 'x.com' }, false],
  [{ host: '*.a.x.com' }, { host: '*.x.com' }, false],
  [{ host: 'a.x.com' }, { host: '*.x.com' }, false],
  [{ host: '*.x.com', path: '/a/**' }, { host: 'b.x.com', path: '/a/c' }, true],
  [{ host: '*.x.com', path: '/a/**' }, { host: 'b.x.com', path: '/b' }, false],
  // methods
  [{ methods: ['GET'] }, { methods: ['GET'] }, true],
  [{ methods: ['GET', 'POST'] }, { methods: ['post'] }, true],
  [{ methods: ['GET'] }, { methods: ['GET', 'HEAD'] }, false],
  [{ methods: ['GET'] }, { methods: ['HEAD'] }, false],
  [{ methods: ['GET'] }, {}, false],
  [{}, { methods: ['DELETE'] }, true],
  [{ methods: ['GET'], path: '/**' }, { methods: ['GET'], path: '/a', host: 'h' }, true],
  // invalid specs take no part
  [{ path: '/a*' }, { path: '/a' }, false],
  [{}, { path: '/a*' }, false],
];

t.test('pairs', async (t) => {
  for (const [a, b, want] of PAIRS) {
    t.ok(compileMatch(a).ok || !want, 'a shadowing spec is valid');
    t.equal(shadows(a, b), want, `${JSON.stringify(a)} ⊇ ${JSON.stringify(b)}`);
  }
});

t.test('each shadowed route once, with the first route that covers it', async (t) => {
  t.strictSame(
    findShadowed([
      { path: '/health' }, // 0
      { path: '/api/**', methods: ['GET'] }, // 1
      { path: '/api/**' }, // 2
      { path: '/api/x', methods: ['GET'] }, // 3: by 1 (first), also by 2
      { path: '/api/y' }, // 4: by 2
      { path: '/health' }, // 5: by 0
      { path: '/**' }, // 6
      { path: '/other' }, // 7: by 6
      { path: '/**' }, // 8: by 6
    ]),
    [
      { index: 3, by: 1 },
      { index: 4, by: 2 },
      { index: 5, by: 0 },
      { index: 7, by: 6 },
      { index: 8, by: 6 },
    ],
  );
  t.strictSame(findShadowed([]), []);
  t.strictSame(findShadowed([{}]), []);
});

t.test('later routes never shadow earlier ones', async (t) => {
  t.strictSame(findShadowed([{ path: '/a' }, { path: '/**' }]), []);
});

t.test('unions of earlier routes are not detected (documented limitation)', async (t) => {
  t.strictSame(findShadowed([{ methods: ['GET'] }, { methods: ['POST'] }, { methods: ['GET', 'POST'] }]), []);
});

t.test('soundness: whatever is reported shadowed really never matches first (random configs)', async (t) => {
  let seed = 4242;
  const next = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  const pathPatterns = ['/**', '/a/**', '/a', '/A', '/a/', '/*', '/a/*', '/*/b', '/a/b', '/b/**', '/', '/*/**'];
  const hosts = [undefined, 'a.x.com', '*.x.com', 'b.x.com', '*.a.x.com'];
  const methodSets = [undefined, ['GET'], ['GET', 'POST'], ['POST']];
  const paths = ['/', '/a', '/A', '/a/', '/a/b', '/A/b', '/b', '/b/c', '/c/b', '/a/b/c', '/ab'];
  const hostnames = ['a.x.com', 'b.x.com', 'c.a.x.com', 'x.com', 'y.com'];
  const failures: string[] = [];
  let reported = 0;
  for (let i = 0; i < 400; i++) {
    const specs: RouteMatchSpec[] = [];
    const n = 2 + Math.floor(next() * 4);
    for (let k = 0; k < n; k++) {
      const spec: RouteMatchSpec = {};
      const path = pick(pathPatterns);
      if (path !== '/**' || next() < 0.5) spec.path = path;
      const host = pick(hosts);
      if (host !== undefined) spec.host = host;
      const methods = pick(methodSets);
      if (methods !== undefined) spec.methods = methods;
      if (next() < 0.3) spec.caseSensitive = false;
      specs.push(spec);
    }
    const compiled = specs.map((s) => {
      const r = compileMatch(s);
      if (!r.ok) throw new Error(JSON.stringify(s));
      return r.match;
    });
    for (const { index, by } of findShadowed(specs)) {
      reported++;
      for (const method of ['GET', 'POST', 'PUT']) {
        for (const h of hostnames) {
          for (const p of paths) {
            if (compiled[index]!.test(method, h, p) && !compiled[by]!.test(method, h, p)) {
              failures.push(`${JSON.stringify(specs[by])} reported to shadow ${JSON.stringify(specs[index])}, but ${method} ${h}${p}`);
            }
          }
        }
      }
    }
  }
  t.strictSame(failures.slice(0, 10), []);
  t.ok(reported > 100, `reported ${reported}`);
});
