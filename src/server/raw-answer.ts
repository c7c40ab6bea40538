// Answers written straight to a socket, for the requests Fastify never sees: those
// Node's parser refused (clientError) and Upgrade handshakes. Same body and headers as
// every other gatehouse answer; the connection is closed once the answer is flushed.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { HttpAnswer } from '../pipeline/respond/deny.js';

export function writeRawAnswer(socket: Socket, answer: HttpAnswer): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(answer.body);
  let head = `HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status]}\r\n`;
  for (const [name, value] of Object.entries(answer.headers)) {
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
  }
  head += `x-request-id: ${answer.body.requestId}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  // Server sockets are half-open capable: close our side once the answer is out.
  socket.once('finish', () => socket.destroy());
  socket.end(head + body);
}
