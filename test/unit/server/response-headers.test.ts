import t from 'tap';
import type { RequestFacts } from '../../../src/pipeline/types.js';
import { publicOriginFor, rewriteResponseHeaders } from '../../../src/server/response-headers.js';

const facts = { scheme: 'https', authority: 'app.example.com' } as RequestFacts;
const ctx = { upstreamOrigin: 'http://127.0.0.1:9000', basePath: '', stripPrefix: undefined as string | undefined, facts, publicOrigins: [] as string[], requestId: 'rid' };

t.test('Locations naming the upstream are rewritten to the public origin', async (t) => {
  t.equal(rewriteResponseHeaders({ location: 'http://127.0.0.1:9000/login?x=1#f' }, ctx).location, 'https://app.example.com/login?x=1#f');
  t.equal(rewriteResponseHeaders({ location: '//127.0.0.1:9000/p' }, ctx).location, 'https://app.example.com/p');
  t.equal(rewriteResponseHeaders({ location: '/relative' }, ctx).location, '/relative');
  t.equal(rewriteResponseHeaders({ location: 'https://other.example.com/x' }, ctx).location, 'https://other.example.com/x');
  t.equal(rewriteResponseHeaders({ location: 'http://[bad' }, ctx).location, 'http://[bad');
});

t.test('the route rewrite is undone: base path back to the stripped prefix', async (t) => {
  const rw = { ...ctx, basePath: '/v1', stripPrefix: '/api' };
  t.equal(rewriteResponseHeaders({ location: 'http://127.0.0.1:9000/v1/next?a=1' }, rw).location, 'https://app.example.com/api/next?a=1');
  t.equal(rewriteResponseHeaders({ location: 'http://127.0.0.1:9000/v1' }, rw).location, 'https://app.example.com/api');
  t.equal(rewriteResponseHeaders({ location: 'http://127.0.0.1:9000/other' }, rw).location, 'https://app.example.com/other', 'outside the base: origin only');
  t.equal(rewriteResponseHeaders({ location: '/v1/next' }, rw).location, '/api/next', 'path-absolute');
  t.equal(rewriteResponseHeaders({ location: '/elsewhere' }, rw).location, '/elsewhere');
  t.equal(rewriteResponseHeaders({ location: 'next' }, rw).location, 'next', 'relative: resolved by the client');
  t.equal(rewriteResponseHeaders({ location: 'http://127.0.0.1:9000/x' }, { ...ctx, stripPrefix: '/api' }).location, 'https://app.example.com/api/x');
  t.equal(rewriteResponseHeaders({ location: 'http://127.0.0.1:9000/' }, { ...ctx, basePath: '/v1' }).location, 'https://app.example.com/');
});

t.test('publicUrl wins over the request host', async (t) => {
  const pub = { ...ctx, publicOrigins: ['https://public.example.com'] };
  t.equal(rewriteResponseHeaders({ location: 'http://127.0.0.1:9000/a' }, pub).location, 'https://public.example.com/a');
  t.equal(publicOriginFor(facts, ['https://x.example.com', 'https://app.example.com']), 'https://app.example.com');
  t.equal(publicOriginFor(facts, []), 'https://app.example.com');
});

t.test('hop-by-hop response headers are dropped, request id set', async (t) => {
  const out = rewriteResponseHeaders({ connection: 'keep-alive, x-secret-hop', 'keep-alive': 'timeout=5', 'x-secret-hop': '1', 'transfer-encoding': 'chunked', 'content-type': 'text/plain', 'x-request-id': 'upstream', skip: undefined }, ctx);
  t.same(out, { 'content-type': 'text/plain', 'x-request-id': 'rid' });
});
