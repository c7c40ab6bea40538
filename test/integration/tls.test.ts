// HTTPS on the proxy listener (tls) and to upstreams (upstreamTls: CA and client
// certificate for mTLS), against a real TLS upstream on loopback.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Agent, request } from 'undici';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const pem = (name: string): string => readFileSync(new URL(`../fixtures/config/valid/pem/${name}`, import.meta.url), 'utf8');
const env = { PEM_DIR: new URL('../fixtures/config/valid/pem/', import.meta.url).pathname };

let gw: TestGateway;
let upstream: https.Server;
const seen: Array<{ url: string; client: string | undefined; user: string | undefined; proto?: string }> = [];

t.before(async () => {
  upstream = https.createServer({ cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const cert = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
    seen.push({ url: req.url ?? '', client: cert.subject?.CN as string | undefined, user: req.headers['x-auth-method'] as string | undefined, proto: req.headers['x-forwarded-proto'] as string | undefined });
    res.end('tls ok');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startTestGateway(
    `
tls: { cert: "\${file:${env.PEM_DIR}server.crt}", key: "\${file:${env.PEM_DIR}server.key}" }
routes:
  - name: mtls
    match: { path: /mtls/** }
    upstream: https://localhost:${port}
    auth: anonymous
    upstreamTls: { ca: "\${file:${env.PEM_DIR}ca.crt}", cert: "\${file:${env.PEM_DIR}client.crt}", key: "\${file:${env.PEM_DIR}client.key}" }
  - name: untrusted
    match: { path: /untrusted/** }
    upstream: https://127.0.0.1:${port}
    auth: anonymous
`,
    { env },
  );
});

t.teardown(async () => {
  await gw.close();
  await new Promise((r) => upstream.close(r));
});

const client = new Agent({ connect: { ca: pem('ca.crt') } });

t.test('the proxy listener speaks TLS with the configured certificate', async (t) => {
  t.match(gw.url, /^https:\/\//);
  const res = await request(`${gw.url}/mtls/a`, { dispatcher: client });
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), 'tls ok');
  t.same(seen.at(-1), { url: '/mtls/a', client: 'gatehouse client', user: 'anonymous', proto: 'https' }, 'upstream saw our client certificate and the client\'s scheme');
});

t.test('gatehouse answers its own errors over TLS too', async (t) => {
  const res = await request(`${gw.url}/nowhere`, { dispatcher: client });
  t.equal(res.statusCode, 404);
  t.match(await res.body.json(), { code: 'GATEHOUSE_ERR_ROUTE_NOT_FOUND' });
});

t.test('an upstream whose CA is not configured is refused: 502, nothing forwarded', async (t) => {
  const before = seen.length;
  const res = await request(`${gw.url}/untrusted/a`, { dispatcher: client });
  t.equal(res.statusCode, 502);
  t.match(await res.body.json(), { code: 'GATEHOUSE_ERR_UPSTREAM_BAD_RESPONSE' });
  t.equal(seen.length, before);
});
