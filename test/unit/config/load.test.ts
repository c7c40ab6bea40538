import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import t from 'tap';
import { ConfigError, formatDiagnostic } from '../../../src/config/diagnostics.js';
import {
  configJsonSchema,
  loadConfigFile,
  loadConfigText,
  MAX_ALIAS_EXPANSIONS,
  MAX_SUBSTITUTED_FILE_BYTES,
} from '../../../src/config/load.js';

const fixtures = new URL('../../fixtures/config/', import.meta.url).pathname;
/** As a user would type it on the command line, relative to the working directory. */
const fixture = (name: string) => relative(process.cwd(), join(fixtures, name));

/** The formatted diagnostics of a text that must fail to load. */
function problems(text: string, env: NodeJS.ProcessEnv = {}, file = 'g.yaml'): string[] {
  try {
    loadConfigText(text, file, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.diagnostics.map(formatDiagnostic);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** One valid route, at lines 1-5; `extra` lines continue the route's mapping from line 6. */
const ROUTE = 'routes:\n  - name: r\n    match: { path: /x }\n    upstream: echo\n    auth: anonymous\n';

t.test('minimal.yaml: defaults fill everything the file leaves out', async (t) => {
  const file = fixture('valid/minimal.yaml');
  const loaded = loadConfigFile(file, {});
  t.equal(loaded.file, file, 'the name as given');
  t.equal(loaded.dir, resolve(fixtures, 'valid'));
  t.same(loaded.input, {
    listen: '127.0.0.1:8080',
    limits: { headerBytes: 16384, headerCount: 100, targetBytes: 4096, headersTimeout: 20_000, bodyBytes: 10485760 },
    workers: 1,
    watch: false,
    shutdownTimeout: 25_000,
    trustedProxies: [],
    admin: { listen: '127.0.0.1:9090' },
    log: { level: 'info' },
    identity: {
      headers: {
        user: 'X-Auth-User',
        email: 'X-Auth-Email',
        name: 'X-Auth-Name',
        groups: 'X-Auth-Groups',
        method: 'X-Auth-Method',
        route: 'X-Auth-Route',
      },
      stripPrefixes: ['X-Auth-'],
    },
    authenticators: {},
    routes: [
      {
        name: 'demo',
        match: { path: '/**', caseSensitive: true },
        upstream: 'echo',
        auth: 'anonymous',
        forwardCredentials: false,
        timeout: 30_000,
        preserveHost: false,
        allowPreflight: false,
        allowMethodOverride: false,
        csrf: 'origin',
      },
    ],
  });
  t.notOk('publicUrl' in loaded.input, 'keys without a default stay absent');
  t.notOk('tls' in loaded.input);
});

t.test('input is deep-frozen', async (t) => {
  const { input } = loadConfigFile(fixture('valid/full.yaml'), {});
  t.ok(Object.isFrozen(input));
  t.ok(Object.isFrozen(input.routes));
  t.ok(Object.isFrozen(input.routes[1]!.allow!.claims!['realm_access.roles']));
  const staff = input.authenticators.staff!;
  t.ok(staff.type === 'basic' && Object.isFrozen(staff.throttle));
  t.throws(() => {
    (input.limits as { headerBytes: number }).headerBytes = 1;
  }, TypeError);
  t.equal(input.limits.headerBytes, 8192);
});

t.test('full.yaml: every key is read, durations become milliseconds, files are substituted', async (t) => {
  const { input } = loadConfigFile(fixture('valid/full.yaml'), {});
  const pem = (name: string) => readFileSync(join(fixtures, 'valid/pem', name), 'utf8');
  t.equal(input.listen, '0.0.0.0:8443');
  t.same(input.publicUrl, ['https://app.example.com', 'https://app.example.org:8443']);
  t.equal(input.tls?.cert, pem('server.crt'), 'a PEM file keeps its final newline');
  t.ok(input.tls?.cert.endsWith('-----END CERTIFICATE-----\n'));
  t.equal(input.tls?.key, pem('server.key'));
  t.same(input.limits, { headerBytes: 8192, headerCount: 50, targetBytes: 2048, headersTimeout: 10_000, bodyBytes: 1048576 });
  t.equal(input.workers, 4);
  t.equal(input.watch, true);
  t.equal(input.shutdownTimeout, 10_000);
  t.same(input.trustedProxies, ['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
  t.same(input.admin, { listen: '127.0.0.1:9191' });
  t.same(input.log, { level: 'debug' });
  t.same(input.identity.headers, { user: 'X-User', email: 'X-Email', name: 'X-Name', groups: 'X-Groups', method: 'X-Method', route: 'X-Route' });
  t.same(input.identity.stripPrefixes, ['X-Auth-', 'X-User']);
  t.same(input.sessions, {
    store: 'redis',
    redis: { sentinels: ['redis-0.redis:26379', '[fd00::7]:26379'], name: 'mymaster', password: 'redis-password', keyPrefix: 'gh:' },
    cookie: { name: 'gh_session', secure: false, sameSite: 'strict', domain: 'example.com' },
    secret: ['first-secret-of-at-least-32-characters', 'older-secret-of-at-least-32-characters'],
    maxAge: 8 * 3_600_000,
    idleTimeout: 20 * 60_000,
  });
  t.same(input.login, {
    providers: {
      corp: {
        type: 'oidc',
        issuer: 'https://sso.example.com/realms/acme',
        clientId: 'gatehouse',
        clientSecret: 'client-secret',
        scopes: ['openid', 'email'],
        claims: { user: 'preferred_username', email: 'mail', name: 'name', groups: 'realm_access.roles' },
        userinfo: true,
        label: 'Corporate account',
        refreshBefore: 120_000,
        timeout: 3000,
      },
      local: { type: 'form', authenticator: 'staff', label: 'Staff' },
    },
    allowedRedirectHosts: ['docs.example.com', 'wiki.example.com:8443'],
  });
  t.same(input.authenticators.web, { type: 'session' });
  t.same(input.authenticators.staff, {
    type: 'basic',
    realm: 'Staff area',
    htpasswd: './users.htpasswd',
    users: [{ name: 'ci-bot', hash: '$2b$04$EnRhHTmtcEzHbYlXJ65souje9W1N2Ui/QybCSbgSdKfalXAlzbeZW' }],
    groups: { alice: ['admin', 'staff'], 'ci-bot': ['ci'] },
    throttle: { window: 600_000, maxFailuresPerUserAndIp: 3, maxFailuresPerIp: 30, slowdownAfterUserFailures: 10 },
    cache: { maxEntries: 500, ttl: 90_000 },
  });
  const admin = input.routes[1]!;
  t.same(admin, {
    name: 'admin',
    match: { host: 'app.example.com', path: '/admin/**', methods: ['GET', 'POST'], caseSensitive: false },
    upstream: 'https://127.0.0.1:9443/base',
    auth: ['staff'],
    allow: {
      users: ['alice'],
      groups: ['admin'],
      emails: ['alice@example.com'],
      emailDomains: ['example.com'],
      scopes: ['admin:write'],
      claims: { tenant: 'acme', level: 3, active: true, 'realm_access.roles': ['admin', 7, false], literal: '${not-a-reference}' },
    },
    headers: { 'X-Tenant': '{claims.tenant}' },
    forwardCredentials: true,
    rewrite: { stripPrefix: '/admin' },
    timeout: 1500,
    preserveHost: true,
    upstreamTls: { ca: pem('ca.crt'), cert: pem('client.crt'), key: pem('client.key'), rejectUnauthorized: false },
    allowPreflight: true,
    allowMethodOverride: true,
    csrf: 'off',
  });
  t.same(input.routes[2]!.match, { host: '*.example.com', regex: '^/reports/[0-9]+$', caseSensitive: true });
  t.equal(input.routes[2]!.upstream, 'http://[::1]:9002');
  t.equal(input.routes[3]!.auth, 'deny');
});

t.test('three-mistakes.yaml: all three reported with file:line:column', async (t) => {
  const file = fixture('invalid/three-mistakes.yaml');
  const err = t.throws(() => loadConfigFile(file, {})) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.equal(
    err.message,
    [
      `${file}:5:5 routes[0].matchh: unknown key "matchh"; did you mean "match"?`,
      `${file}:9:19 routes[0].preserveHost: must be true or false`,
      `${file}:10:14 routes[0].timeout: must be a duration from 1ms to 24d, such as 30s, 5m, 12h, 7d or 250ms, or a number of seconds`,
    ].join('\n'),
  );
  t.same(err.diagnostics[0], { file, line: 5, column: 5, keyPath: 'routes[0].matchh', message: 'unknown key "matchh"; did you mean "match"?' });
});

t.test('the configuration file itself cannot be read', async (t) => {
  const dir = t.testdir({ 'latin1.yaml': Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]), sub: {} });
  t.same(
    (t.throws(() => loadConfigFile(join(dir, 'nope.yaml'), {})) as ConfigError).diagnostics[0],
    { file: join(dir, 'nope.yaml'), line: 1, column: 1, keyPath: '', message: `cannot read the configuration file: ${join(dir, 'nope.yaml')}: no such file` },
  );
  t.equal(
    (t.throws(() => loadConfigFile(join(dir, 'sub'), {})) as ConfigError).message,
    `${join(dir, 'sub')}:1:1 cannot read the configuration file: ${join(dir, 'sub')} is not a regular file`,
  );
  t.equal(
    (t.throws(() => loadConfigFile(join(dir, 'latin1.yaml'), {})) as ConfigError).message,
    `${join(dir, 'latin1.yaml')}:1:1 cannot read the configuration file: ${join(dir, 'latin1.yaml')} is not UTF-8 text`,
  );
});

t.test('loadConfigText: the file name anchors ${file:} and messages', async (t) => {
  const dir = t.testdir({ 'secret.txt': 's3cret\n' });
  const loaded = loadConfigText(`${ROUTE}    headers: { X-Key: "\${file:secret.txt}" }\n`, join(dir, 'gatehouse.yaml'), {});
  t.equal(loaded.dir, dir);
  t.same(loaded.input.routes[0]!.headers, { 'X-Key': 's3cret' });
});

t.test('process.env is the default environment', async (t) => {
  process.env.GATEHOUSE_TEST_LISTEN = '127.0.0.1:1234';
  t.teardown(() => {
    delete process.env.GATEHOUSE_TEST_LISTEN;
  });
  t.equal(loadConfigText(`listen: \${env:GATEHOUSE_TEST_LISTEN}\n${ROUTE}`, 'g.yaml').input.listen, '127.0.0.1:1234');
  const file = join(t.testdir({ 'g.yaml': `listen: \${env:GATEHOUSE_TEST_LISTEN}\n${ROUTE}` }), 'g.yaml');
  t.equal(loadConfigFile(file).input.listen, '127.0.0.1:1234');
});

t.test('${env:NAME}', async (t) => {
  const env = { HOST: '10.1.2.3', PORT: '8081', EMPTY: '', NESTED: '${env:HOST}' };
  const load = (yaml: string) => loadConfigText(`${yaml}\n${ROUTE}`, 'g.yaml', env).input;
  t.equal(load('listen: ${env:HOST}:${env:PORT}').listen, '10.1.2.3:8081', 'several, embedded');
  t.equal(load('listen: "${env:HOST}:8080"').listen, '10.1.2.3:8080', 'in a quoted string');
  t.equal(load('log: { level: "info${env:EMPTY}" }').log.level, 'info', 'set but empty counts as set');
  t.same(load('publicUrl: "https://x.example/${env:NESTED}"').publicUrl, 'https://x.example/${env:HOST}', 'substituted text is not substituted again');
  t.same(load('publicUrl: https://x.example/$${env:HOST}').publicUrl, 'https://x.example/${env:HOST}', '$${ is a literal ${');
  t.same(load('publicUrl: https://x.example/a$b$$c$').publicUrl, 'https://x.example/a$b$$c$', 'a $ without { is itself');
  t.same(
    problems('listen: ${env:NOPE}\n' + ROUTE),
    ['g.yaml:1:9 listen: environment variable NOPE is not set (${env:NOPE})'],
    'only the missing variable is reported, not the schema failing on the raw text',
  );
  t.same(problems('${env:HOST}: 1\n' + ROUTE, env), ['g.yaml:1:1 ["${env:HOST}"]: unknown key "${env:HOST}"'], 'keys are not substituted');
});

t.test('${file:PATH}', async (t) => {
  const dir = t.testdir({
    'key.pem': '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
    'token.txt': 'tok\n',
    'crlf.txt': 'tok\r\n',
    'two.txt': 'tok\n\n',
    'bare.txt': 'tok',
    sub: { 'host.txt': 'app.example.com\n' },
    'big.txt': 'x'.repeat(MAX_SUBSTITUTED_FILE_BYTES + 1),
    'latin1.txt': Buffer.from([0xe9]),
  });
  const file = join(dir, 'g.yaml');
  const load = (yaml: string) => loadConfigText(`${yaml}\n${ROUTE}`, file, {}).input;
  // A claim value takes any string, newlines included.
  const claim = (value: string) =>
    loadConfigText(`${ROUTE}    allow: { claims: { v: "${value}" } }\n`, file, {}).input.routes[0]!.allow!.claims!.v;
  t.equal(load('tls: { cert: "${file:key.pem}", key: "${file:./key.pem}" }').tls?.cert, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'whole PEM value: newline kept');
  t.equal(claim('${file:token.txt}'), 'tok', 'whole non-PEM value: one trailing newline removed');
  t.equal(claim('${file:crlf.txt}'), 'tok', 'CRLF too');
  t.equal(claim('${file:two.txt}'), 'tok\n', 'only one');
  t.equal(claim('${file:bare.txt}'), 'tok');
  t.equal(claim('Bearer ${file:token.txt}!'), 'Bearer tok!', 'embedded: newline removed');
  t.equal(load('tls: { cert: "x${file:key.pem}", key: "${file:key.pem}" }').tls?.cert, 'x-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', 'embedded PEM: newline removed');
  t.equal(load('publicUrl: "https://${file:sub/host.txt}"').publicUrl, 'https://app.example.com', 'relative to the config folder');
  t.equal(claim(`\${file:${join(dir, 'bare.txt')}}`), 'tok', 'absolute path');

  t.same(problems(`${ROUTE}    headers: { a: "\${file:nope.txt}", b: "\${file:sub}", c: "\${file:big.txt}", d: "\${file:latin1.txt}" }\n`, {}, file), [
    `${file}:6:19 routes[0].headers.a: cannot read "nope.txt" (\${file:nope.txt}): ${join(dir, 'nope.txt')}: no such file`,
    `${file}:6:42 routes[0].headers.b: cannot read "sub" (\${file:sub}): ${join(dir, 'sub')} is not a regular file`,
    `${file}:6:60 routes[0].headers.c: cannot read "big.txt" (\${file:big.txt}): ${join(dir, 'big.txt')} is larger than 1048576 bytes`,
    `${file}:6:82 routes[0].headers.d: cannot read "latin1.txt" (\${file:latin1.txt}): ${join(dir, 'latin1.txt')} is not UTF-8 text`,
  ]);
  t.same(problems(`publicUrl: "\${file:bare.txt/x}"\n${ROUTE}`, {}, file), [
    `${file}:1:12 publicUrl: cannot read "bare.txt/x" (\${file:bare.txt/x}): ${join(dir, 'bare.txt/x')}: ENOTDIR`,
  ], 'other errors by their code');
});

t.test('malformed references', async (t) => {
  t.same(problems(`${ROUTE}    headers:\n      a: "\${env:X"\n      b: "\${oops}"\n      c: "\${env:1X}"\n      d: "\${file:}"\n      e: "\${}"\n`), [
    'g.yaml:7:10 routes[0].headers.a: unterminated "${": close it with "}", or write "$${" for a literal "${"',
    'g.yaml:8:10 routes[0].headers.b: unsupported "${...}": write ${env:NAME} or ${file:PATH}, or "$${" for a literal "${"',
    'g.yaml:9:10 routes[0].headers.c: unsupported "${...}": write ${env:NAME} or ${file:PATH}, or "$${" for a literal "${"',
    'g.yaml:10:10 routes[0].headers.d: unsupported "${...}": write ${env:NAME} or ${file:PATH}, or "$${" for a literal "${"',
    'g.yaml:11:10 routes[0].headers.e: unsupported "${...}": write ${env:NAME} or ${file:PATH}, or "$${" for a literal "${"',
  ]);
  t.same(problems(`${ROUTE}    headers: { a: "\${env:A} \${env:B}" }\n`), [
    'g.yaml:6:19 routes[0].headers.a: environment variable A is not set (${env:A})',
    'g.yaml:6:19 routes[0].headers.a: environment variable B is not set (${env:B})',
  ], 'every missing variable of one value');
});

t.test('substituted values never appear in a message', async (t) => {
  const SECRET = 'hunter2-Sup3rSecret-value';
  const dir = t.testdir({ 'secret.txt': `${SECRET}\n` });
  const env = { SECRET };
  const text = [
    'listen: ${env:SECRET}',
    'publicUrl: ["${env:SECRET}"]',
    'log: { level: "${env:SECRET}" }',
    'trustedProxies: ["${env:SECRET}"]',
    'limits: { headersTimeout: "${env:SECRET}" }',
    'tls: { cert: "${file:secret.txt}", key: "-----BEGIN ${env:SECRET}" }',
    'authenticators:',
    '  a: { type: "${env:SECRET}" }',
    '  b: { type: basic, realm: "\\"${env:SECRET}", users: [{ name: "a:${env:SECRET}", hash: "${env:SECRET}" }] }',
    'routes:',
    '  - name: "${env:SECRET}!"',
    '    match: { path: "${env:SECRET}", host: "${env:SECRET}/", methods: ["${env:SECRET} "] }',
    '    upstream: ${env:SECRET}',
    '    auth: ["${env:SECRET}!"]',
    '    allow: { claims: { x: "${env:SECRET}" } }',
    '',
  ].join('\n');
  const found = problems(text, env, join(dir, 'g.yaml')).map((line) => line.slice(dir.length + 1));
  t.same(found, [
    'g.yaml:1:9 listen: must be host:port, such as 0.0.0.0:8080 or [::]:8080',
    'g.yaml:2:13 publicUrl[0]: must be an http(s) URL without credentials, query or fragment',
    'g.yaml:3:15 log.level: must be one of: fatal, error, warn, info, debug, trace, silent',
    'g.yaml:4:18 trustedProxies[0]: must be an IP address or CIDR range, such as 10.0.0.0/8',
    'g.yaml:5:27 limits.headersTimeout: must be a duration from 1ms to 24d, such as 30s, 5m, 12h, 7d or 250ms, or a number of seconds',
    'g.yaml:6:14 tls.cert: must be PEM text (-----BEGIN …-----); to read it from a file write ${file:./name.pem}',
    'g.yaml:6:41 tls.key: must be PEM text (-----BEGIN …-----); to read it from a file write ${file:./name.pem}',
    'g.yaml:8:14 authenticators.a.type: unknown authenticator type; expected one of: basic, jwt, introspection, session',
    'g.yaml:9:28 authenticators.b.realm: must be printable ASCII text without " or \\',
    'g.yaml:9:63 authenticators.b.users[0].name: must be a user name without ":" or control characters (RFC 7617 §2)',
    'g.yaml:9:88 authenticators.b.users[0].hash: must be a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash; `gatehouse hash-password` prints one',
    'g.yaml:11:11 routes[0].name: must be a route name (a letter or digit followed by letters, digits, "_", "." or "-")',
    'g.yaml:12:20 routes[0].match.path: must be a path starting with "/", without query or fragment',
    'g.yaml:12:43 routes[0].match.host: must be a host name such as app.example.com or *.example.com, without a port',
    'g.yaml:12:71 routes[0].match.methods[0]: must be an HTTP method such as GET',
    'g.yaml:13:15 routes[0].upstream: must be "echo" or an http(s) URL without credentials, query or fragment',
    'g.yaml:14:12 routes[0].auth[0]: must be an authenticator name (a letter followed by letters, digits, "_" or "-")',
  ]);
  for (const line of found) t.notOk(line.includes('Sup3rSecret'), line);
  t.notOk(found.join('\n').includes('hunter2'));
});

t.test('YAML syntax errors', async (t) => {
  t.same(problems('a:\n  b: 1\n c: 2\n'), ['g.yaml:3:1 All mapping items must start at the same column']);
  t.same(problems('listen: "x\n'), ['g.yaml:2:1 Missing closing "quote']);
  t.same(problems('a:\n\t- x\n'), ['g.yaml:2:1 Tabs are not allowed as indentation']);
  t.same(problems('a: 1\n---\nb: 2\n'), ['g.yaml:2:1 Source contains multiple documents; please use YAML.parseAllDocuments()']);
  t.same(problems('listen: !secret x\n' + ROUTE), ['g.yaml:1:9 Unresolved tag: !secret'], 'an unknown tag is an error, not a warning');
  t.same(
    problems('log: { level: ${env:LEVEL} }\nlisten: x\nadmin: false\n'),
    ['g.yaml:1:16 Unexpected flow-map-start at node end; inside { } or [ ], quote ${...} references: key: "${env:NAME}"'],
    'one message for a broken flow mapping, with the hint; the parser\'s echoes are dropped',
  );
});

t.test('duplicate keys', async (t) => {
  t.same(problems(`${ROUTE}    match: { path: /y }\n`), ['g.yaml:6:5 routes[0]: duplicate key "match"']);
  t.same(problems(`log: { level: info, level: warn }\n${ROUTE}`), ['g.yaml:1:21 log: duplicate key "level"']);
  t.same(problems(`listen: a\nlisten: b\n${ROUTE}`), ['g.yaml:2:1 duplicate key "listen"']);
  t.same(problems(`${ROUTE}listen: a\nlisten: b\n`), ['g.yaml:7:1 duplicate key "listen"'], 'after a list');
  t.same(problems(`${ROUTE}    headers: { 1: a, "1": b }\n`), ['g.yaml:6:22 routes[0].headers: duplicate key "1"'], 'equal once keys are strings');
});

t.test('odd keys', async (t) => {
  t.same(problems(`[a]: 1\n*x : 2\n: 3\n${ROUTE}`), [
    'g.yaml:1:1 keys must be plain names, not empty, lists, mappings or aliases',
    'g.yaml:2:1 keys must be plain names, not empty, lists, mappings or aliases',
    'g.yaml:3:1 keys must be plain names, not empty, lists, mappings or aliases',
  ]);
  const before = ({} as Record<string, unknown>).polluted;
  t.same(problems(`__proto__: { polluted: 1 }\n${ROUTE}`), ['g.yaml:1:1 __proto__: unknown key "__proto__"']);
  t.equal(({} as Record<string, unknown>).polluted, before, 'no prototype pollution');
  const loaded = loadConfigText(`${ROUTE}    headers: { __proto__: x, true: y, 12: z }\n`, 'g.yaml', {});
  t.same(Object.entries(loaded.input.routes[0]!.headers!).sort(), [['12', 'z'], ['__proto__', 'x'], ['true', 'y']], '__proto__ is an ordinary key');
  t.equal(Object.getPrototypeOf(loaded.input.routes[0]!.headers), Object.prototype);
});

t.test('anchors and aliases', async (t) => {
  const ok = loadConfigText(
    'routes:\n  - &r { name: a, match: { path: /a }, upstream: echo, auth: &who [staff] }\n  - { name: b, match: { path: /b }, upstream: echo, auth: *who }\nauthenticators: { staff: { type: basic } }\n',
    'g.yaml',
    {},
  );
  t.same(ok.input.routes[1]!.auth, ['staff']);
  t.not(ok.input.routes[0]!.auth, ok.input.routes[1]!.auth, 'each use is its own copy');

  t.same(
    problems('x: &m { path: /a, bogus: 1 }\nroutes:\n  - { name: a, match: *m, upstream: echo, auth: deny }\n'),
    ['g.yaml:1:1 x: unknown key "x"', 'g.yaml:3:23 routes[0].match.bogus: unknown key "bogus"'],
    'a problem inside an alias points at the alias',
  );
  t.same(problems(`listen: *nope\n${ROUTE}`), ['g.yaml:1:9 listen: alias *nope has no anchor &nope before it']);
  t.same(
    problems(`limits: &l\n  headerBytes: *l\n${ROUTE}`),
    ['g.yaml:2:16 limits.headerBytes: alias *l refers to a collection that contains it'],
    'reported once: no "must be an integer" on top',
  );

  const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) {
    laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
  }
  t.same(
    problems(laughs.join('\n') + '\n'),
    // c's 9th item expands b, whose 2nd item (*a at 2:12) is the 101st expansion.
    [`g.yaml:2:12 c[8][1]: more than ${MAX_ALIAS_EXPANSIONS} alias expansions in one file (a guard against exponential expansion)`],
    'billion laughs: stopped, one message, no schema noise',
  );
});

t.test('empty documents and wrong roots', async (t) => {
  t.same(problems(''), ['g.yaml:1:1 the file is empty; a configuration needs at least "routes"']);
  t.same(problems('# nothing\n\n'), ['g.yaml:1:1 the file is empty; a configuration needs at least "routes"']);
  t.same(problems('\n\n- a\n'), ['g.yaml:3:1 must be a mapping']);
  t.same(problems('listen: 1.2.3.4:80\n'), ['g.yaml:1:1 missing required key "routes"']);
});

t.test('unknown keys, with a suggestion when one is close', async (t) => {
  t.same(problems(`publicURL: https://a.example\nlisen: 1.2.3.4:80\nsesions: {}\n${ROUTE}    upstreem: echo\n    tls: {}\n`), [
    'g.yaml:1:1 publicURL: unknown key "publicURL"; did you mean "publicUrl"?',
    'g.yaml:2:1 lisen: unknown key "lisen"; did you mean "listen"?',
    'g.yaml:3:1 sesions: unknown key "sesions"; did you mean "sessions"?',
    'g.yaml:9:5 routes[0].upstreem: unknown key "upstreem"; did you mean "upstream"?',
    'g.yaml:10:5 routes[0].tls: unknown key "tls"',
  ]);
  t.same(problems(`${ROUTE}    match: { pth: /x, a: 1 }\n`.replace('    match: { path: /x }\n', '')), [
    'g.yaml:5:14 routes[0].match.pth: unknown key "pth"; did you mean "path"?',
    'g.yaml:5:23 routes[0].match.a: unknown key "a"',
  ], 'no suggestion as long as the key itself');
});

t.test('missing keys of one mapping make one line', async (t) => {
  t.same(problems('routes:\n  - {}\n  - name: x\n    match: {}\n'), [
    'g.yaml:2:5 routes[0]: missing required keys "name", "match", "upstream", "auth"',
    'g.yaml:3:5 routes[1]: missing required keys "upstream", "auth"',
  ]);
  t.same(problems('routes:\n  - name: x\n    match: {}\n    upstream: echo\n'), ['g.yaml:2:5 routes[0]: missing required key "auth"'], 'a route without auth is an error (no silent default)');
  t.same(problems(`tls: { cert: "-----BEGIN A-----\\n-----END A-----" }\n${ROUTE}`), ['g.yaml:1:6 tls: missing required key "key"']);
});

t.test('types, in YAML words', async (t) => {
  t.same(problems('routes: {}\nlimits: []\nadmin: { listen: 1 }\nidentity: { stripPrefixes: X- }\n'), [
    'g.yaml:1:9 routes: must be a list',
    'g.yaml:2:9 limits: must be a mapping',
    'g.yaml:3:18 admin.listen: must be host:port, such as 127.0.0.1:9090 or [::1]:9090',
    'g.yaml:4:28 identity.stripPrefixes: must be a list',
  ]);
  t.same(problems(`limits: { headerBytes: 1.5, headerCount: "100", bodyBytes: 0, targetBytes: .inf }\n${ROUTE}`), [
    'g.yaml:1:24 limits.headerBytes: must be an integer',
    'g.yaml:1:42 limits.headerCount: must be an integer',
    'g.yaml:1:60 limits.bodyBytes: must be at least 1',
    'g.yaml:1:76 limits.targetBytes: must be an integer',
  ]);
  t.same(problems(`${ROUTE}    allow: { claims: { n: .nan } }\n`), ['g.yaml:6:27 routes[0].allow.claims.n: must be a string, number, boolean, or a non-empty list of them']);
  t.same(problems(`${ROUTE}    forwardCredentials: yes\n    allowPreflight: 1\n`), [
    'g.yaml:6:25 routes[0].forwardCredentials: must be true or false',
    'g.yaml:7:21 routes[0].allowPreflight: must be true or false',
  ]);
  t.same(problems(`${ROUTE}    headers: { X-A: 5 }\n`), ['g.yaml:6:21 routes[0].headers.X-A: must be a template without control characters']);
  t.same(problems(`${ROUTE}    allow: { users: alice, groups: [""] }\n`), [
    'g.yaml:6:21 routes[0].allow.users: must be a list',
    'g.yaml:6:37 routes[0].allow.groups[0]: must not be empty',
  ]);
  t.same(problems('routes: []\n'), ['g.yaml:1:9 routes: must not be empty']);
  t.same(problems(`${ROUTE}    timeout:\n`), ['g.yaml:6:5 routes[0].timeout: must be a duration from 1ms to 24d, such as 30s, 5m, 12h, 7d or 250ms, or a number of seconds'], 'an empty value points at its key');
});

t.test('durations', async (t) => {
  const timeout = (v: string) => loadConfigText(`${ROUTE}    timeout: ${v}\n`, 'g.yaml', {}).input.routes[0]!.timeout;
  t.equal(timeout('1ms'), 1);
  t.equal(timeout('24d'), 24 * 86_400_000);
  t.equal(timeout('1.5'), 1500);
  t.equal(timeout('"90"'), 90_000);
  const message = 'must be a duration from 1ms to 24d, such as 30s, 5m, 12h, 7d or 250ms, or a number of seconds';
  for (const bad of ['0', '0s', '0.0001', '0.4ms', '25d', '2073600.001', '-1', '5 minutes', 'true', '[1s]', '1h30m']) {
    t.same(problems(`${ROUTE}    timeout: ${bad}\n`), [`g.yaml:6:14 routes[0].timeout: ${message}`], bad);
  }
});

t.test('authenticators: a discriminated union on type', async (t) => {
  const auth = (yaml: string) => problems(`authenticators:\n${yaml}\n${ROUTE}`);
  t.same(auth('  partners: { type: sesion }'), ['g.yaml:2:21 authenticators.partners.type: unknown authenticator type "sesion"; expected one of: basic, jwt, introspection, session'], 'one message, no noise from the variants');
  t.same(auth('  a: { realm: x }'), ['g.yaml:2:6 authenticators.a: missing required key "type" (one of: basic, jwt, introspection, session)']);
  t.same(auth('  a: { type: 5 }'), ['g.yaml:2:14 authenticators.a.type: must be one of: basic, jwt, introspection, session']);
  t.same(auth('  a: basic'), ['g.yaml:2:6 authenticators.a: must be a mapping']);
  t.same(auth('  a: { type: basic, realm: 5, cache: { ttl: 0, maxEntries: 0 }, extra: 1 }'), [
    'g.yaml:2:28 authenticators.a.realm: must be printable ASCII text without " or \\',
    'g.yaml:2:45 authenticators.a.cache.ttl: must be a duration from 1ms to 24d, such as 30s, 5m, 12h, 7d or 250ms, or a number of seconds',
    'g.yaml:2:60 authenticators.a.cache.maxEntries: must be at least 1',
    'g.yaml:2:65 authenticators.a.extra: unknown key "extra"',
  ], 'the variant named by type is checked in full');
  t.same(auth('  a: { type: basic, users: [{ name: bob, hash: "{SHA}abc" }, { name: "" , hash: "$2y$10$x" }], groups: { "": [x], bob: [""] } }'), [
    'g.yaml:2:48 authenticators.a.users[0].hash: must be a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash; `gatehouse hash-password` prints one',
    'g.yaml:2:70 authenticators.a.users[1].name: must be a user name without ":" or control characters (RFC 7617 §2)',
    'g.yaml:2:106 authenticators.a.groups[""]: name must not be empty',
    'g.yaml:2:121 authenticators.a.groups.bob[0]: must not be empty',
  ]);
});

t.test('authenticator names', async (t) => {
  t.same(problems(`authenticators:\n  "my auth": { type: basic }\n  anonymous: { type: basic }\n  deny: { type: basic }\n  9x: { type: basic }\n  ok_name-2: { type: basic }\n${ROUTE}`), [
    'g.yaml:2:3 authenticators["my auth"]: name must be a letter followed by letters, digits, "_" or "-"',
    'g.yaml:3:3 authenticators.anonymous: name is reserved: anonymous and deny are built into `auth`',
    'g.yaml:4:3 authenticators.deny: name is reserved: anonymous and deny are built into `auth`',
    'g.yaml:5:3 authenticators["9x"]: name must be a letter followed by letters, digits, "_" or "-"',
  ]);
});

t.test('unions collapse to one message per place', async (t) => {
  t.same(problems(`${ROUTE}    auth: [web, 5, "a b"]\n`.replace('    auth: anonymous\n', '')), [
    'g.yaml:5:17 routes[0].auth[1]: must be an authenticator name (a letter followed by letters, digits, "_" or "-")',
    'g.yaml:5:20 routes[0].auth[2]: must be an authenticator name (a letter followed by letters, digits, "_" or "-")',
  ], 'the list branch fits: its item errors, not "must be a string"');
  t.same(problems(`${ROUTE}    auth: []\n`.replace('    auth: anonymous\n', '')), ['g.yaml:5:11 routes[0].auth: must not be empty']);
  t.same(problems(`${ROUTE}    auth: { a: 1 }\n`.replace('    auth: anonymous\n', '')), ['g.yaml:5:11 routes[0].auth: must be an authenticator name, anonymous, deny, or a non-empty list of names']);
  t.same(problems(`admin: true\n${ROUTE}`), ['g.yaml:1:8 admin: must be false or a mapping with `listen`']);
  t.same(problems(`admin: { port: 1 }\n${ROUTE}`), ['g.yaml:1:10 admin.port: unknown key "port"']);
  t.same(problems(`publicUrl: []\n${ROUTE}`), ['g.yaml:1:12 publicUrl: must not be empty']);
  t.same(problems(`publicUrl: 5\n${ROUTE}`), ['g.yaml:1:12 publicUrl: must be an http(s) URL or a non-empty list of them']);
  t.same(problems(`publicUrl: ftp://a\n${ROUTE}`), ['g.yaml:1:12 publicUrl: must be an http(s) URL without credentials, query or fragment']);
  t.same(problems(`${ROUTE}    allow:\n      claims:\n        a: [{ x: 1 }, ok]\n        b: { y: 1 }\n        c: []\n`), [
    'g.yaml:8:13 routes[0].allow.claims.a[0]: must be a string, number or boolean',
    'g.yaml:9:12 routes[0].allow.claims.b: must be a string, number, boolean, or a non-empty list of them',
    'g.yaml:10:12 routes[0].allow.claims.c: must not be empty',
  ]);
});

t.test('route keys', async (t) => {
  const route = (yaml: string) => problems(`routes:\n  - name: r\n    upstream: echo\n    auth: deny\n${yaml}\n`);
  t.same(route('    match: { path: x, host: "a.example.com:443", methods: [get, "G T"], regex: "", caseSensitive: "no" }'), [
    'g.yaml:5:20 routes[0].match.path: must be a path starting with "/", without query or fragment',
    'g.yaml:5:29 routes[0].match.host: must be a host name such as app.example.com or *.example.com, without a port',
    'g.yaml:5:65 routes[0].match.methods[1]: must be an HTTP method such as GET',
    'g.yaml:5:80 routes[0].match.regex: must not be empty',
    'g.yaml:5:99 routes[0].match.caseSensitive: must be true or false',
  ]);
  t.same(route('    match: {}\n    rewrite: { stripPrefix: api }\n    headers: { "Bad Header": a, X-Ok: "a\\nb" }'), [
    'g.yaml:6:29 routes[0].rewrite.stripPrefix: must be a path starting with "/", without query or fragment',
    'g.yaml:7:16 routes[0].headers["Bad Header"]: name must be a header name (letters, digits and !#$%&\'*+.^_`|~-, RFC 9110 §5.1)',
    'g.yaml:7:39 routes[0].headers.X-Ok: must be a template without control characters',
  ]);
  t.same(route('    match: {}\n    upstreamTls: { ca: ./ca.pem, rejectUnauthorized: 0 }'), [
    'g.yaml:6:24 routes[0].upstreamTls.ca: must be PEM text (-----BEGIN …-----); to read it from a file write ${file:./name.pem}',
    'g.yaml:6:54 routes[0].upstreamTls.rejectUnauthorized: must be true or false',
  ]);
  t.same(problems('routes:\n  - { name: .x, match: {}, upstream: "http://u:p@host", auth: deny }\n'), [
    'g.yaml:2:13 routes[0].name: must be a route name (a letter or digit followed by letters, digits, "_", "." or "-")',
    'g.yaml:2:38 routes[0].upstream: must be "echo" or an http(s) URL without credentials, query or fragment',
  ]);
});

t.test('top-level keys', async (t) => {
  t.same(problems(`listen: 8080\ntrustedProxies: [10.0.0.0/33]\nlog: { level: verbose }\nidentity: { headers: { user: "X User" }, stripPrefixes: ["X:"] }\n${ROUTE}`), [
    'g.yaml:1:9 listen: must be host:port, such as 0.0.0.0:8080 or [::]:8080',
    'g.yaml:2:18 trustedProxies[0]: must be an IP address or CIDR range, such as 10.0.0.0/8',
    'g.yaml:3:15 log.level: must be one of: fatal, error, warn, info, debug, trace, silent',
    'g.yaml:4:30 identity.headers.user: must be a header name (letters, digits and !#$%&\'*+.^_`|~-, RFC 9110 §5.1)',
    'g.yaml:4:58 identity.stripPrefixes[0]: must be a header name (letters, digits and !#$%&\'*+.^_`|~-, RFC 9110 §5.1)',
  ]);
  const input = loadConfigText(`admin: false\nidentity: { headers: { user: X-Who } }\nlog: { level: silent }\n${ROUTE}`, 'g.yaml', {}).input;
  t.equal(input.admin, false, 'admin: false disables the admin listener');
  t.same(input.identity.headers, {
    user: 'X-Who',
    email: 'X-Auth-Email',
    name: 'X-Auth-Name',
    groups: 'X-Auth-Groups',
    method: 'X-Auth-Method',
    route: 'X-Auth-Route',
  }, 'a partly given block gets the rest of its defaults');
  t.same(loadConfigText(`admin: {}\n${ROUTE}`, 'g.yaml', {}).input.admin, { listen: '127.0.0.1:9090' });
  const run = loadConfigText(`workers: auto\nwatch: true\nshutdownTimeout: 90\n${ROUTE}`, 'g.yaml', {}).input;
  t.same([run.workers, run.watch, run.shutdownTimeout], ['auto', true, 90_000], 'workers: auto is kept for the compiler to resolve; a duration in seconds');

  t.same(loadConfigText(`authenticators: { s: { type: basic, throttle: { window: 1h } } }\n${ROUTE}`, 'g.yaml', {}).input.authenticators.s, {
    type: 'basic',
    realm: 'gatehouse',
    throttle: { window: 3_600_000, maxFailuresPerUserAndIp: 5, maxFailuresPerIp: 50, slowdownAfterUserFailures: 20 },
    cache: { maxEntries: 10000, ttl: 300_000 },
  });
});

t.test('workers, watch and shutdownTimeout', async (t) => {
  const expect = 'must be a whole number of at least 1, or "auto"';
  for (const bad of ['0', '-2', '1.5', 'two', '"4"', 'Auto', 'true', '[2]']) {
    t.same(problems(`workers: ${bad}\n${ROUTE}`), [`g.yaml:1:10 workers: ${expect}`], bad);
  }
  t.same(problems(`watch: "yes"\n${ROUTE}`), ['g.yaml:1:8 watch: must be true or false']);
  t.same(problems(`shutdownTimeout: 0s\n${ROUTE}`), ['g.yaml:1:18 shutdownTimeout: must be a duration from 1ms to 24d, such as 30s, 5m, 12h, 7d or 250ms, or a number of seconds']);
  t.equal(loadConfigText(`workers: 64\n${ROUTE}`, 'g.yaml', {}).input.workers, 64);
});

t.test('locate and diagnostic, for the compiler', async (t) => {
  const text = [
    'listen: 127.0.0.1:8080', // 1
    'authenticators:', // 2
    '  staff: { type: basic }', // 3
    'routes:', // 4
    '  - name: a', // 5
    '    match: &m { path: /a }', // 6
    '    upstream: echo', // 7
    '    auth: [anonymous, staff]', // 8
    '  - name: b', // 9
    '    match: *m', // 10
    '    upstream: echo', // 11
    '    auth: deny', // 12
    '',
  ].join('\n');
  const loaded = loadConfigText(text, 'cfg/g.yaml', {});
  t.same(loaded.locate(['listen']), { line: 1, column: 9 });
  t.same(loaded.locate(['listen'], 'key'), { line: 1, column: 1 });
  t.same(loaded.locate(['authenticators', 'staff']), { line: 3, column: 10 });
  t.same(loaded.locate(['authenticators', 'staff'], 'key'), { line: 3, column: 3 });
  t.same(loaded.locate(['routes', 0, 'auth', 1]), { line: 8, column: 23 });
  t.same(loaded.locate(['routes', '0', 'auth', '1']), { line: 8, column: 23 }, 'indexes as strings');
  t.same(loaded.locate(['routes', 0, 'timeout']), { line: 5, column: 5 }, 'a defaulted key: its mapping');
  t.same(loaded.locate(['routes', 0, 'timeout'], 'key'), { line: 5, column: 5 }, "never the parent's key");
  t.same(loaded.locate(['limits', 'headerBytes']), { line: 1, column: 1 }, 'nothing on the way: the document');
  t.same(loaded.locate(['routes', 1, 'match', 'path']), { line: 10, column: 12 }, 'inside an alias: the alias');
  t.same(loaded.locate([]), { line: 1, column: 1 });
  t.same(loaded.diagnostic(['routes', 0, 'auth', 1], 'unknown authenticator "staff"'), {
    file: 'cfg/g.yaml',
    line: 8,
    column: 23,
    keyPath: 'routes[0].auth[1]',
    message: 'unknown authenticator "staff"',
  });
  t.same(loaded.diagnostic(['authenticators', 'staff'], 'never used', 'key'), {
    file: 'cfg/g.yaml',
    line: 3,
    column: 3,
    keyPath: 'authenticators.staff',
    message: 'never used',
  });
  t.ok(Object.isFrozen(loaded));
});

t.test('an empty document has positions at 1:1', async (t) => {
  t.same(problems('{}\n'), ['g.yaml:1:1 missing required key "routes"']);
});

t.test('configJsonSchema', async (t) => {
  const schema = configJsonSchema() as Record<string, unknown> & { properties: Record<string, Record<string, unknown>> };
  t.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  t.equal(schema.title, 'gatehouse configuration');
  t.equal(schema.additionalProperties, false);
  t.same(schema.required, ['routes']);
  t.equal(schema.properties.listen!.default, '127.0.0.1:8080');
  t.same(schema.properties.limits!.default, { headerBytes: 16384, headerCount: 100, targetBytes: 4096, headersTimeout: '20s', bodyBytes: 10485760 });
  t.same(Object.getOwnPropertySymbols(schema.properties.listen!), [], 'internal annotations are not printed');
  t.same(JSON.parse(JSON.stringify(schema)), schema, 'plain JSON');
  schema.title = 'changed';
  t.equal((configJsonSchema() as { title: string }).title, 'gatehouse configuration', 'a fresh copy each time');
});

t.test('editors agree: the printed JSON Schema accepts the fixtures as written, ${...} included', async (t) => {
  const { Ajv } = await import('ajv');
  const { parse } = await import('yaml');
  // A plain draft-07 validator, as an editor has it: no custom formats, no discriminator.
  const validate = new Ajv({ strict: false, validateFormats: false }).compile(configJsonSchema());
  for (const name of ['valid/minimal.yaml', 'valid/full.yaml']) {
    t.ok(validate(parse(readFileSync(join(fixtures, name), 'utf8'))), name);
    t.same(validate.errors, null);
  }
  t.notOk(validate(parse(`${ROUTE}    timeout: soon\n`)), 'patterns still apply to plain values');
});
