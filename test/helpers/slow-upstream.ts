// An upstream that holds every request for `delayMs`, then answers `<word> <url>`: the
// requests in flight that a shutdown or a reload must let finish.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlowUpstream {
  readonly url: string;
  /** Requests received and not yet answered. */
  holding(): number;
  close(): Promise<void>;
}

export async function startSlowUpstream(delayMs: number, word = 'slow'): Promise<SlowUpstream> {
  let holding = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    holding++;
    const timer = setTimeout(() => {
      timers.delete(timer);
      holding--;
      res.end(`${word} ${req.url}`);
    }, delayMs);
    timers.add(timer);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    holding: () => holding,
    close: () =>
      new Promise((r) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
