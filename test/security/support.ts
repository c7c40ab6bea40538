// Shared pieces of the attack suite (test/security/*.test.ts). Every attack asserts on
// the recording upstream (what actually arrived), never on the status code alone.
import net from 'node:net';
import type tap from 'tap';
import type { Recorded, RecordingUpstream } from '../helpers/recording-upstream.js';
import { sleep, waitFor } from '../helpers/wait.js';

export const basic = (user: string, password: string | Buffer): string =>
  'Basic ' + Buffer.concat([Buffer.from(`${user}:`), Buffer.isBuffer(password) ? password : Buffer.from(password)]).toString('base64');

// The suite imports them from here; the one copy for every suite is in helpers/wait.ts.
export { sleep, waitFor };

/** A GET request in exact bytes; `extra` are header lines without CRLF. */
export function rawGet(target: string, extra: readonly string[] = [], host = 'gate.test'): string {
  return `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`;
}

/** The `t` a subtest callback receives. */
export type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0];
type Asserts = Pick<TapTest, 'equal' | 'same'>;

/**
 * The oracle: nothing reached the upstream. A forward that was under way when the client
 * got its answer would still be in flight, so wait a moment before looking.
 */
export async function assertNothingForwarded(t: Asserts, upstream: RecordingUpstream, message = 'nothing reached the upstream'): Promise<void> {
  await sleep(30);
  t.same(
    upstream.requests.map((r) => `${r.method} ${r.url}`),
    [],
    message,
  );
}

const NOTHING: Recorded = Object.freeze({ method: '', url: '(nothing reached the upstream)', headers: {}, rawHeaders: [], body: '' });

/** The one request the upstream received (asserts there is exactly one). */
export function onlyRequest(t: Asserts, upstream: RecordingUpstream): Recorded {
  t.equal(upstream.requests.length, 1, 'exactly one request reached the upstream');
  return upstream.requests[0] ?? NOTHING;
}

// Written out here rather than imported from src/: the oracle must not share a bug with
// the code it judges. PHP, CGI and friends fold case, '_' and '.' into '-'.
const fold = (name: string): string => name.toLowerCase().replace(/[_.]/g, '-');

/**
 * Every value the upstream received under a header whose name folds (case, '_', '.')
 * to `name`: PHP/CGI-style stacks would read all of them as that one header.
 */
export function valuesFolded(rec: Recorded, name: string): string[] {
  const want = fold(name);
  const out: string[] = [];
  for (let i = 0; i < rec.rawHeaders.length; i += 2) {
    if (fold(rec.rawHeaders[i]!) === want) out.push(rec.rawHeaders[i + 1]!);
  }
  return out;
}

/** Header names (as sent) the upstream received that start with `prefix` after folding. */
export function namesWithFoldedPrefix(rec: Recorded, prefix: string): string[] {
  const want = fold(prefix);
  const out: string[] = [];
  for (let i = 0; i < rec.rawHeaders.length; i += 2) {
    if (fold(rec.rawHeaders[i]!).startsWith(want)) out.push(rec.rawHeaders[i]!);
  }
  return out;
}

/**
 * Opens a raw connection and returns helpers to write bytes and read everything the
 * server sends, for tests that need timing (slow headers) or pipelining.
 */
export function openRaw(url: string): { socket: net.Socket; received: () => string; closed: Promise<void> } {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed };
}

/** Status code of the first final (non-1xx) answer in raw response text, or undefined. */
export function finalStatus(text: string): number | undefined {
  for (const m of text.matchAll(/HTTP\/1\.1 (\d{3})/g)) {
    const status = Number(m[1]);
    if (status >= 200 || status === 101) return status;
  }
  return undefined;
}

export interface ByteTap {
  /** Origin to use as a route's upstream. */
  readonly url: string;
  /** Every byte the gateway sent through the tap since the last reset, as latin1 text. */
  received(): string;
  /** Connections the gateway opened through the tap since the last reset. */
  accepted(): number;
  /** Connections through the tap open right now. */
  open(): number;
  reset(): void;
  /** Cuts every connection (the gateway's included), then stops listening. */
  close(): Promise<void>;
}

/**
 * A TCP relay in front of an upstream that keeps every byte the gateway sends: a stricter
 * oracle than complete requests, for cases where even a started, never-finished forward
 * (request line and headers, part of a body) must not happen.
 */
export async function startByteTap(target: string): Promise<ByteTap> {
  const { hostname, port } = new URL(target);
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  let accepted = 0;
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: hostname, port: Number(port) });
    accepted += 1;
    clients.add(client);
    client.on('close', () => clients.delete(client));
    track(client);
    track(upstream);
    client.on('data', (c: Buffer) => chunks.push(c));
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    received: () => Buffer.concat(chunks).toString('latin1'),
    accepted: () => accepted,
    open: () => clients.size,
    reset: () => {
      chunks.length = 0;
      accepted = 0;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
