// Load-time checks of jwt, introspection and identity.assertion: every mistake is a
// diagnostic with file:line:col and key, never a crash at the first request.
import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { compileConfig } from '../../../src/config/compile.js';
import { ConfigError } from '../../../src/config/diagnostics.js';
import { loadConfigText } from '../../../src/config/load.js';

const route = 'routes:\n  - name: r\n    match: { path: /** }\n    upstream: echo\n    auth: tok\n';
const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
const ecPrivate = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const smallRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

async function problems(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  try {
    const config = await compileConfig(loadConfigText(yaml, 'g.yaml', env));
    await config.close();
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message.split('\n');
  }
}

t.test('a complete bearer config compiles', async (t) => {
  t.same(
    await problems(
      `identity:\n  assertion: { privateKey: "\${env:K}", ttl: 2m }\nauthenticators:\n  tok:\n    type: jwt\n    keys: "\${env:PUB}"\n    audience: api\n    algorithms: [ES256]\n  opaque:\n    type: introspection\n    endpoint: http://127.0.0.1:1/introspect\n    clientId: gh\n    clientSecret: "\${env:S}"\nroutes:\n  - name: o\n    match: { path: /o }\n    upstream: echo\n    auth: opaque\n${route.replace('routes:\n', '')}`,
      { K: ecPrivate, PUB: ecPem, S: 'secret' },
    ),
    [],
  );
});

t.test('jwt: exactly one key source', async (t) => {
  t.same(await problems(`authenticators:\n  tok:\n    type: jwt\n    audience: api\n    algorithms: [ES256]\n${route}`), ['g.yaml:3:5 authenticators.tok: needs one of jwks, keys or secret']);
  t.match((await problems(`authenticators:\n  tok:\n    type: jwt\n    jwks: https://idp.example.com/jwks\n    secret: "${'x'.repeat(40)}"\n    audience: api\n    algorithms: [HS256]\n${route}`))[0], /authenticators\.tok: sets jwks and secret; use exactly one/);
});

t.test('jwt: no HS/RS confusion in one authenticator; secrets long enough', async (t) => {
  const secretWithEs = await problems(`authenticators:\n  tok:\n    type: jwt\n    secret: "${'x'.repeat(64)}"\n    audience: api\n    algorithms: [HS256, ES256]\n${route}`);
  t.match(secretWithEs.join('\n'), /authenticators\.tok\.algorithms: ES256 need a public key \(jwks or keys\), not a secret/);
  const keysWithHs = await problems(`authenticators:\n  tok:\n    type: jwt\n    keys: "\${env:PUB}"\n    audience: api\n    algorithms: [HS256]\n${route}`, { PUB: ecPem });
  t.match(keysWithHs.join('\n'), /HS256 need a shared secret/);
  const short = await problems(`authenticators:\n  tok:\n    type: jwt\n    secret: "\${env:S}"\n    audience: any\n    algorithms: [HS384]\n${route}`, { S: 'x'.repeat(40) });
  t.match(short.join('\n'), /authenticators\.tok\.secret: must be at least 48 bytes for HS384/);
  t.notMatch(short.join('\n'), /xxxx/, 'the secret is never quoted');
});

t.test('jwt: unparseable keys and the none algorithm', async (t) => {
  const bad = await problems(`authenticators:\n  tok:\n    type: jwt\n    keys: "not a key"\n    audience: api\n    algorithms: [ES256]\n${route}`);
  t.match(bad.join('\n'), /g\.yaml:4:11 authenticators\.tok\.keys: /);
  const none = await problems(`authenticators:\n  tok:\n    type: jwt\n    secret: "${'x'.repeat(64)}"\n    audience: any\n    algorithms: [none]\n${route}`);
  t.match(none.join('\n'), /authenticators\.tok\.algorithms\[0\]: must be one of/);
  const noAudience = await problems(`authenticators:\n  tok:\n    type: jwt\n    secret: "${'x'.repeat(64)}"\n    algorithms: [HS256]\n${route}`);
  t.match(noAudience.join('\n'), /authenticators\.tok.*audience/);
});

t.test('introspection over plain http to a non-loopback host is refused at load', async (t) => {
  const out = await problems(`authenticators:\n  tok:\n    type: introspection\n    endpoint: http://idp.example.com/introspect\n    clientId: a\n    clientSecret: "\${env:S}"\n${route}`, { S: 'topsecret' });
  t.equal(out.length, 1);
  t.match(out[0], /^g\.yaml:3:5 authenticators\.tok: /);
  t.notMatch(out[0], /topsecret/);
});

t.test('assertion: bad keys name their index, short ttl names ttl', async (t) => {
  const out = await problems(`identity:\n  assertion:\n    privateKey: ["\${env:GOOD}", "\${env:SMALL}", "\${env:PUB}"]\n${route.replace('auth: tok', 'auth: anonymous')}`, { GOOD: ecPrivate, SMALL: smallRsa, PUB: ecPem });
  t.equal(out.length, 2);
  t.match(out[0], /identity\.assertion\.privateKey\[1\]: /);
  t.match(out[1], /identity\.assertion\.privateKey\[2\]: /);
  t.notMatch(out.join('\n'), /BEGIN/);
  const ttl = await problems(`identity:\n  assertion: { privateKey: "\${env:GOOD}", ttl: 500ms }\n${route.replace('auth: tok', 'auth: anonymous')}`, { GOOD: ecPrivate });
  t.match(ttl.join('\n'), /identity\.assertion\.ttl: /);
});

t.test('a route header may not template the assertion header', async (t) => {
  const out = await problems(`identity:\n  assertion: { privateKey: "\${env:GOOD}", header: X-Signed }\n${route.replace('auth: tok', 'auth: anonymous')}    headers: { X-Signed: "{user}" }\n`, { GOOD: ecPrivate });
  t.match(out.join('\n'), /routes\[0\]\.headers\.X-Signed: is set by gatehouse itself/);
});

t.test('reload while the JWKS is down: the new generation serves the running keys', async (t) => {
  const { createServer } = await import('node:http');
  const { SignJWT, exportJWK, generateKeyPair } = await import('jose');
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  const server = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as import('node:net').AddressInfo;
  const yaml = `authenticators:\n  tok:\n    type: jwt\n    jwks: http://127.0.0.1:${port}/jwks\n    audience: api\n    algorithms: [ES256]\n${route}`;
  const first = await compileConfig(loadConfigText(yaml, 'g.yaml', {}));
  const tok = first.authenticators.get('tok')!;
  for (let i = 0; i < 100 && !tok.ready!(); i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(tok.ready!(), true, 'first generation fetched its keys');
  await new Promise((r) => server.close(r));

  const second = await compileConfig(loadConfigText(yaml, 'g.yaml', {}), { previous: first });
  await first.close();
  const next = second.authenticators.get('tok')!;
  t.equal(next.ready!(), true, 'ready at once with the carried-over keys');
  const token = await new SignJWT({ sub: 'svc' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setAudience('api').setExpirationTime('1m').sign(pair.privateKey);
  const facts = { headers: { authorization: `Bearer ${token}` } } as unknown as Parameters<typeof next.authenticate>[0];
  t.match(await next.authenticate(facts), { outcome: 'ok', identity: { user: 'svc' } });
  const cold = await compileConfig(loadConfigText(yaml, 'g.yaml', {}));
  t.equal(cold.authenticators.get('tok')!.ready!(), false, 'without a previous generation: not ready');
  await Promise.all([second.close(), cold.close()]);
});

t.test('one Bearer authenticator per route: a second one could never be consulted', async (t) => {
  const two = `authenticators:\n  tok:\n    type: jwt\n    keys: "\${env:PUB}"\n    audience: api\n    algorithms: [ES256]\n  opaque:\n    type: introspection\n    endpoint: http://127.0.0.1:1/introspect\n    clientId: gh\n    clientSecret: s\nroutes:\n  - name: r\n    match: { path: /** }\n    upstream: echo\n    auth: [tok, opaque]\n`;
  t.same(await problems(two, { PUB: ecPem }), ['g.yaml:16:11 routes[0].auth: lists more than one Bearer authenticator (jwt, introspection); only the first would ever be consulted (one issuer per route)']);
  t.same(await problems(two.replace('auth: [tok, opaque]', 'auth: tok'), { PUB: ecPem }), [], 'one is fine');
});
