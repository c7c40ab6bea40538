// The benchmark's upstream: a separate Node process (node:http, no dependencies) that
// answers every request with 200 and a ~150-byte JSON body echoing the headers a proxy
// is expected to set (and the names of any cookies), so bench/run.mjs can check what each
// target forwarded.
// Deliberately not gatehouse's built-in `echo` upstream: that one runs inside the
// gateway process and would hide the cost of forwarding.
// Env: PORT (required), HOST (default 127.0.0.1).
import http from 'node:http';

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('upstream: PORT must be set\n');
  process.exit(2);
}

const ECHO = ['x-auth-user', 'x-auth-method', 'x-auth-route', 'x-forwarded-for'];

const server = http.createServer((req, res) => {
  const h = req.headers;
  let body = '{"ok":true,"url":' + JSON.stringify(req.url);
  for (const k of ECHO) body += ',"' + k + '":' + JSON.stringify(h[k] ?? null);
  // Only the scheme: shows whether a credential was forwarded, never the credential.
  const auth = h.authorization;
  body += ',"auth":' + JSON.stringify(typeof auth === 'string' ? auth.split(' ', 1)[0] : null);
  // Only the names of cookies, and only when some arrived (so every other target's body
  // stays byte-for-byte the same): shows whether a session cookie was forwarded.
  if (typeof h.cookie === 'string') body += ',"cookies":' + JSON.stringify(h.cookie.split(';').map((c) => c.split('=', 1)[0].trim()));
  body += '}';
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});

// Proxies keep pooled connections; closing them mid-run would measure reconnects.
server.keepAliveTimeout = 120_000;
server.listen(port, host, () => {
  process.stdout.write(`upstream listening on http://${host}:${port}/\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
