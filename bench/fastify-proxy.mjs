// Reference proxy for the benchmark: bare Fastify 5 + @fastify/http-proxy, no auth, no
// logging, forwarding everything to UPSTREAM_URL. It sets X-Forwarded-For like gatehouse
// does, so both send the upstream a comparable request. It is the floor a Node gateway
// built on the same stack (Fastify + @fastify/reply-from + undici) cannot go below.
// Env: PORT, UPSTREAM_URL (both required), HOST (default 127.0.0.1).
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT);
const upstream = process.env.UPSTREAM_URL;
if (!Number.isInteger(port) || port <= 0 || !upstream) {
  process.stderr.write('fastify-proxy: PORT and UPSTREAM_URL must be set\n');
  process.exit(2);
}

const app = Fastify({ logger: false });
await app.register(httpProxy, {
  upstream,
  replyOptions: {
    rewriteRequestHeaders: (request, headers) => ({ ...headers, 'x-forwarded-for': request.ip }),
  },
});
await app.listen({ host, port });
process.stdout.write(`fastify-proxy listening on http://${host}:${port}/ -> ${upstream}\n`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => app.close().then(() => process.exit(0), () => process.exit(1)));
