// Captured stdio for running CLI commands in-process.
import { PassThrough, Readable } from 'node:stream';
import type { CliIo } from '../../../src/cli/io.js';

export interface Captured extends CliIo {
  out(): string;
  err(): string;
}

export function captureIo(stdinText = '', env: NodeJS.ProcessEnv = {}): Captured {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { stdout, stderr, stdin: Readable.from([Buffer.from(stdinText)]), env, out: () => out, err: () => err };
}
