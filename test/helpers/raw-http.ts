// Sends exact bytes over a TCP socket and parses the answer: fetch/undici normalize URLs
// and headers, which would hide the very inputs security tests need to send.
import net from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly raw: string;
}

export function rawRequest(url: string, request: string, opts: { timeoutMs?: number } = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${opts.timeoutMs ?? 5000} ms`));
    }, opts.timeoutMs ?? 5000);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const parsed = parse(Buffer.concat(chunks).toString('latin1'));
      if (parsed) {
        clearTimeout(timer);
        socket.destroy();
        resolve(parsed);
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      const parsed = parse(Buffer.concat(chunks).toString('latin1'), true);
      if (parsed) resolve(parsed);
      else reject(new Error('connection closed without a complete answer: ' + JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))));
    });
    socket.write(request, 'latin1');
  });
}

function parse(text: string, ended = false): RawResponse | undefined {
  // Skip interim 1xx answers (e.g. 100 Continue).
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const after = rest.slice(end + 4);
    if (status >= 100 && status < 200 && status !== 101) {
      rest = after;
      continue;
    }
    if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (Buffer.byteLength(after, 'latin1') < len) return undefined;
      return { status, headers, body: Buffer.from(after, 'latin1').subarray(0, len).toString('utf8'), raw: text };
    }
    if (headers['transfer-encoding']?.includes('chunked')) {
      if (!after.includes('\r\n0\r\n\r\n') && !after.startsWith('0\r\n\r\n')) return undefined;
      let body = '';
      let pos = 0;
      for (;;) {
        const lineEnd = after.indexOf('\r\n', pos);
        const size = parseInt(after.slice(pos, lineEnd), 16);
        if (!size) break;
        body += after.slice(lineEnd + 2, lineEnd + 2 + size);
        pos = lineEnd + 2 + size + 2;
      }
      return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8'), raw: text };
    }
    return ended || status === 101 || status === 204 || status === 304 ? { status, headers, body: after, raw: text } : undefined;
  }
}
