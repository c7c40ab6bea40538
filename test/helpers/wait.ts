// Waiting in tests: for a condition that some other process or timer brings about, and for
// a port nothing listens on. One copy for every suite (the attack suite re-exports these
// through test/security/support.ts).
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` every 20 ms until it holds or `timeoutMs` have passed; resolves with
 * whether it held. For assertions: `t.ok(await waitFor(...))` fails with the test's own
 * message instead of a thrown timeout.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

/**
 * Polls `probe` every 20 ms until it gives a value (anything but undefined or false) and
 * resolves with that value; throws, naming `what`, after `timeoutMs`. For set-up steps the
 * rest of a test builds on, where going on after a timeout would only fail later, obscurely.
 */
export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A loopback port nothing listened on a moment ago: for a server that must be told its
 * port before it starts (redis-server, a gateway whose publicUrl names its own port), or
 * for an address where nothing answers.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
