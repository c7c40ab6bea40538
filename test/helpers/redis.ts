// Redis for tests, two kinds (toolchain.md):
//   - the shared redis-server on 127.0.0.1:6379. tap runs test files in parallel, so many
//     files use it at the same time: each works under a key prefix of its own run and
//     deletes only those keys at the end (SCAN + DEL, never FLUSHDB or KEYS). It is never
//     stopped, paused or reconfigured.
//   - a redis-server of a test's OWN on a free port, for everything that stops, hangs
//     (SIGSTOP) or reconfigures Redis. It is stopped by its pid, never by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import type { Redis } from 'ioredis';
import { waitUntil } from './wait.js';

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

/** A key prefix no other file or run shares, e.g. `gatehouse-test:4242-1a2b3c4d:`. */
export const runPrefix = (tag = ''): string => `gatehouse-test:${tag}${process.pid}-${randomBytes(4).toString('hex')}:`;

// SCAN's MATCH is a glob: a prefix holding * ? [ ] or \ would match other runs' keys.
const globEscape = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

/** Every key under `prefix`, by SCAN (KEYS would block the shared server for everyone). */
export async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key under `prefix`: a test file's clean-up of the shared Redis. */
export async function deleteKeysUnder(client: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(client, prefix);
  // In slices: one DEL with a huge argument list is one long blocking command.
  for (let i = 0; i < keys.length; i += 1000) await client.del(...keys.slice(i, i + 1000));
}

/**
 * PING over a bare socket (no client library, no retries): whether a redis-server on
 * `port` accepts commands. -NOAUTH from a server with a password counts as up.
 */
export function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => done(/^(\+PONG|-NOAUTH)/.test(chunk.toString())));
  });
}

// Each test file is a process of its own: this set is the servers of one file.
const running = new Set<ChildProcess>();

/**
 * Starts a redis-server of this test's own on `port` (see freePort) and resolves once it
 * answers PING. Nothing is persisted unless the test asks (`extra` may add --dir and
 * --dbfilename for an explicit SAVE; --save '' only turns the automatic snapshots off).
 */
export async function startRedisServer(port: number, extra: readonly string[] = []): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], { stdio: 'ignore' });
  running.add(child);
  try {
    await waitUntil(`redis-server on ${port}`, 5000, () => ping(port));
  } catch (err) {
    await stopRedisServer(child);
    throw err;
  }
  return child;
}

/**
 * Stops a redis-server (or sentinel) this test started, by its pid. SIGCONT first, so that
 * one a test hung with SIGSTOP (and never resumed) is running when the SIGKILL arrives.
 */
export async function stopRedisServer(child: ChildProcess): Promise<void> {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGCONT');
  child.kill('SIGKILL');
  await exited;
}

/** Stops every redis-server startRedisServer started in this file and that still runs: for t.teardown. */
export async function stopRedisServers(): Promise<void> {
  for (const child of [...running]) await stopRedisServer(child);
}
