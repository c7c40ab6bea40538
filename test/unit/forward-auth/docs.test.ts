// docs/forward-auth.md's gatehouse.yaml must load, compile and decide as the page says:
// a copy-paste config that drifted from the schema fails here, not in a user's cluster.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { compileConfig } from '../../../src/config/compile.js';
import { loadConfigText } from '../../../src/config/load.js';
import { forwardAuthAnswer } from '../../../src/forward-auth/answer.js';
import { FORWARD_AUTH_PATH, originalFacts } from '../../../src/forward-auth/facts.js';
import { buildFacts } from '../../../src/pipeline/facts.js';
import { decide } from '../../../src/pipeline/run.js';

const doc = readFileSync(new URL('../../../docs/forward-auth.md', import.meta.url), 'utf8');
const blocks = (lang: string): string[] => [...doc.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);

t.test('the gatehouse.yaml of the sign-in section compiles and decides as documented', async (t) => {
  const yaml = blocks('yaml').find((b) => b.includes('trustedProxies:'));
  t.ok(yaml, 'the page has a gatehouse.yaml');
  const config = await compileConfig(loadConfigText(`listen: 127.0.0.1:0\n${yaml}`, '/tmp/forward-auth-doc.yaml', { OIDC_CLIENT_SECRET: 'doc-secret' }));
  t.teardown(() => config.close());

  // Traefik at 10.0.0.7 asks about a browser's page load and about another host.
  const check = async (host: string, uri: string) => {
    const headers = { host: 'gatehouse:8080', 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': host, 'x-forwarded-uri': uri, accept: 'text/html' };
    const built = buildFacts({ method: 'GET', url: FORWARD_AUTH_PATH, headers, rawHeaders: Object.entries(headers).flat(), peer: '10.0.0.7', scheme: 'http' }, config.limits, config.trustedPeer);
    if (!built.ok) throw new Error(built.reason);
    const original = originalFacts({ facts: built.facts, url: FORWARD_AUTH_PATH }, config.limits);
    if (!original.ok) throw new Error(original.reason);
    const decision = await decide(config.policy, original.facts, { requestId: 'doc' });
    return forwardAuthAnswer(decision, { style: original.style, facts: original.facts, requestId: 'doc', headerPolicy: config.policy.headers, publicOrigins: config.publicOrigins });
  };
  const app = await check('app.example.com', '/reports?q=1');
  t.same([app.status, app.headers.location], [302, `https://app.example.com/.gatehouse/login?rd=${encodeURIComponent('/reports?q=1')}`]);
  const other = await check('other.example.com', '/');
  t.same([other.status, other.body?.code], [403, 'GATEHOUSE_ERR_AUTHZ_ROUTE_DENIED']);
});

t.test('the plain nginx recipe carries the directives the real-nginx test runs with', async (t) => {
  const nginx = blocks('nginx')[0] ?? '';
  for (const line of [
    'location = /.gatehouse/auth {',
    'internal;',
    'proxy_pass_request_body off;',
    'proxy_set_header Content-Length "";',
    'proxy_set_header X-Original-URL $scheme://$http_host$request_uri;',
    'proxy_set_header X-Original-Method $request_method;',
    'auth_request /.gatehouse/auth;',
    'auth_request_set $gh_signin $upstream_http_x_auth_redirect;',
    'error_page 401 = @gatehouse_401;',
    'if ($gh_signin) { return 302 $gh_signin; }',
  ]) {
    t.ok(nginx.includes(line), line);
  }
  for (const header of ['User', 'Email', 'Name', 'Groups', 'Method', 'Route', 'Assertion']) {
    t.match(nginx, new RegExp(`auth_request_set \\$gh_\\w+ +\\$upstream_http_x_auth_${header.toLowerCase()};`), `copies X-Auth-${header}`);
    t.match(nginx, new RegExp(`proxy_set_header X-Auth-${header} +\\$gh_\\w+;`), `sets X-Auth-${header}`);
  }
});
