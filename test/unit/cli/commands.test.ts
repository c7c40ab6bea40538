import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync, verifySync } from '@node-rs/bcrypt';
import { verify as argon2Verify } from '@node-rs/argon2';
import t from 'tap';
import { main } from '../../../src/cli/commands.js';
import { captureIo } from './io.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
const config = join(dir, 'gatehouse.yaml');
writeFileSync(
  config,
  `listen: 127.0.0.1:0
trustedProxies: [10.0.0.0/8]
authenticators:
  staff:
    type: basic
    realm: Staff
    users: [{ name: alice, hash: "${hashSync('wonderland', 4)}" }, { name: bob, hash: "${hashSync('builder', 4)}" }]
    groups: { alice: [admin] }
routes:
  - name: admin
    match: { host: app.example.com, path: /admin/** }
    upstream: http://127.0.0.1:9000
    auth: staff
    allow: { groups: [admin], users: [alice, carol] }
  - name: ops
    match: { path: /ops/** }
    upstream: http://127.0.0.1:9000/internal
    auth: staff
    forwardCredentials: true
    allow: { groups: [admin] }
  - name: public
    match: { path: /** }
    upstream: echo
    auth: anonymous
`,
);
const basic = (u: string, p: string): string => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

t.test('check: ok on a valid file, exit 0', async (t) => {
  const io = captureIo();
  t.equal(await main(['check', '-c', config], io), 0);
  t.match(io.out(), /gatehouse\.yaml: ok \(3 routes, 1 authenticators\)/);
});

t.test('check: three mistakes, all printed with file:line:col, exit 1', async (t) => {
  const io = captureIo();
  t.equal(await main(['check', '-c', 'test/fixtures/config/invalid/three-mistakes.yaml'], io), 1);
  const lines = io.err().trim().split('\n');
  t.equal(lines.length, 4);
  for (const line of lines.slice(0, 3)) t.match(line, /^test\/fixtures\/config\/invalid\/three-mistakes\.yaml:\d+:\d+ routes\[0\]\.\w+: /);
  t.match(lines[3], /3 problems$/);
});

t.test('check: compile-time problems are reported too, from GATEHOUSE_CONFIG', async (t) => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, `routes:\n  - name: a\n    match: { path: /** }\n    upstream: echo\n    auth: nobody\n  - name: b\n    match: { path: /x }\n    upstream: echo\n    auth: anonymous\n    headers: { X-A: "{usr}" }\n`);
  const io = captureIo('', { GATEHOUSE_CONFIG: bad });
  t.equal(await main(['check'], io), 1);
  t.match(io.err(), /bad\.yaml:5:11 routes\[0\]\.auth: unknown authenticator "nobody"/);
  t.match(io.err(), /bad\.yaml:7:12 routes\[1\]\.match: can never match: route "a" \(routes\[0\]\)/);
  t.match(io.err(), /routes\[1\]\.headers\.X-A: unknown placeholder/);
});

t.test('schema: prints the JSON Schema', async (t) => {
  const io = captureIo();
  t.equal(await main(['schema'], io), 0);
  const schema = JSON.parse(io.out()) as { properties: Record<string, unknown> };
  t.ok(schema.properties.routes && schema.properties.authenticators && schema.properties.listen);
});

t.test('explain: allowed request shows route, attempts and what the upstream sees, secrets masked', async (t) => {
  const io = captureIo();
  t.equal(await main(['explain', '-c', config, 'GET', 'https://app.example.com/ops/x?y=1', '--header', `Authorization: ${basic('alice', 'wonderland')}`], io), 0);
  const out = io.out();
  t.match(out, /route +ops \(routes\[1\]/);
  t.match(out, /staff: ok/);
  t.match(out, /decision +allow as alice \(basic\)/);
  t.match(out, /upstream +GET http:\/\/127\.0\.0\.1:9000\/internal\/ops\/x\?y=1/);
  t.match(out, /x-auth-user: alice/);
  t.match(out, /authorization: Basic \[redacted\]/);
  t.notMatch(out, /wonderland|YWxpY2U6/);
});

t.test('explain: denials say why', async (t) => {
  const io = captureIo();
  await main(['explain', '-c', config, 'GET', 'https://app.example.com/admin/', '-H', `Authorization: ${basic('bob', 'builder')}`], io);
  t.match(io.out(), /requires +users: alice \| carol; groups: admin/);
  t.match(io.out(), /decision +deny 403 GATEHOUSE_ERR_AUTHZ_FORBIDDEN \(user-not-allowed, groups-missing\)/);
  const none = captureIo();
  await main(['explain', '-c', config, 'GET', 'https://app.example.com/admin/'], none);
  t.match(none.out(), /deny 401 GATEHOUSE_ERR_AUTH_REQUIRED/);
  t.match(none.out(), /www-authenticate: Basic realm="Staff", charset="UTF-8"/);
  const other = captureIo();
  await main(['explain', '-c', config, 'GET', 'https://other.example.com/admin/'], other);
  t.match(other.out(), /route +public/, 'host does not match the admin route');
});

t.test('explain: refused targets and JSON output', async (t) => {
  const io = captureIo();
  await main(['explain', '-c', config, 'GET', 'https://app.example.com/a%2fb'], io);
  t.match(io.out(), /decision +refuse 400 GATEHOUSE_ERR_REQUEST_BAD_TARGET \(encoded-slash\)/);
  const json = captureIo();
  await main(['explain', '-c', config, 'GET', 'http://x/a/../b', '--json'], json);
  t.match(JSON.parse(json.out()), { decision: 'allow', route: 'public', upstream: { url: 'echo /b' } });
  const none = captureIo();
  const noRouteConfig = join(dir, 'one.yaml');
  writeFileSync(noRouteConfig, 'routes:\n  - name: a\n    match: { path: /a }\n    upstream: echo\n    auth: anonymous\n');
  await main(['explain', '-c', noRouteConfig, 'GET', 'http://x/b', '--json'], none);
  t.match(JSON.parse(none.out()), { decision: 'no-route', status: 404 });
  const trusted = captureIo();
  await main(['explain', '-c', config, 'GET', 'http://x/p', '--peer', '10.1.1.1', '-H', 'X-Forwarded-For: 198.51.100.2', '-H', 'X-Forwarded-Proto: https'], trusted);
  t.match(trusted.out(), /x-forwarded-for: 198\.51\.100\.2, 10\.1\.1\.1/);
  t.match(trusted.out(), /x-forwarded-proto: https/);
});

t.test('explain: usage errors', async (t) => {
  const io = captureIo();
  t.equal(await main(['explain', '-c', config, 'GET'], io), 2);
  t.match(io.err(), /explain needs METHOD and URL/);
  const rel = captureIo();
  t.equal(await main(['explain', '-c', config, 'GET', '/relative'], rel), 2);
  t.match(rel.err(), /URL must be absolute/);
  const hdr = captureIo();
  t.equal(await main(['explain', '-c', config, 'GET', 'http://x/', '-H', 'nocolon'], hdr), 2);
  const badConfig = captureIo();
  t.equal(await main(['explain', '-c', join(dir, 'missing.yaml'), 'GET', 'http://x/'], badConfig), 1);
  t.match(badConfig.err(), /missing\.yaml/);
});

t.test('hash-password: bcrypt by default, argon2id on request, from a pipe', async (t) => {
  const io = captureIo('s3cret pass\n');
  t.equal(await main(['hash-password'], io), 0);
  const hash = io.out().trim();
  t.match(hash, /^\$2b\$12\$/);
  t.ok(verifySync('s3cret pass', hash));
  t.notMatch(io.err() + io.out(), /s3cret/);
  const a = captureIo('pässword');
  t.equal(await main(['hash-password', '--argon2id'], a), 0);
  t.match(a.out(), /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  t.ok(await argon2Verify(a.out().trim(), 'pässword'));
  const empty = captureIo('\n');
  t.equal(await main(['hash-password'], empty), 1);
  t.match(empty.err(), /empty password refused/);
});

t.test('usage, help and unknown commands', async (t) => {
  const help = captureIo();
  t.equal(await main(['--help'], help), 0);
  t.match(help.out(), /usage: gatehouse/);
  const unknown = captureIo();
  t.equal(await main(['frobnicate'], unknown), 2);
  t.match(unknown.err(), /unknown command "frobnicate"/);
  const badFlag = captureIo();
  t.equal(await main(['check', '--nope'], badFlag), 2);
});

t.test('serve: a broken config is not started', async (t) => {
  const io = captureIo();
  t.equal(await main(['serve', '-c', 'test/fixtures/config/invalid/three-mistakes.yaml'], io), 1);
  t.match(io.err(), /not started, .* has 3 problem/);
});
