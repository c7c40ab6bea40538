// A JWKS endpoint on loopback that tests control: what it answers, how late, and how
// often it was asked.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface JwksServerState {
  status: number;
  body: string | Buffer;
  headers: Record<string, string | string[]>;
  /** Milliseconds before answering; Infinity never answers. */
  delayMs: number;
  hits: number;
}

export interface JwksServer {
  state: JwksServerState;
  url: string;
  port: number;
  close(): Promise<void>;
  /** Listen again on the same port after close(). */
  reopen(): Promise<void>;
}

export async function startJwksServer(initial: Partial<JwksServerState> = {}, port = 0): Promise<JwksServer> {
  const state: JwksServerState = { status: 200, body: '{"keys":[]}', headers: {}, delayMs: 0, hits: 0, ...initial };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    state.hits++;
    const answer = (): void => {
      const length = state.headers['transfer-encoding'] === undefined ? { 'content-length': String(Buffer.byteLength(state.body)) } : {};
      res.writeHead(state.status, { 'content-type': 'application/json', ...length, ...state.headers });
      res.end(state.body);
    };
    if (state.delayMs === Infinity) return;
    if (state.delayMs > 0) setTimeout(answer, state.delayMs);
    else answer();
  };
  let server: Server;
  const listen = async (p: number): Promise<number> => {
    server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(p, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  };
  const actual = await listen(port);
  return {
    state,
    port: actual,
    url: `http://127.0.0.1:${actual}/jwks.json`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async reopen() {
      await listen(actual);
    },
  };
}
