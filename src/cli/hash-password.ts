// `gatehouse hash-password [--argon2id]`: reads a password from stdin (hidden and asked
// twice on a terminal) and prints a hash for htpasswd files or `users`. The password is
// never echoed or logged.
import { hashPassword } from '../passwords.js';
import type { CliIo } from './io.js';

async function readAll(stdin: CliIo['stdin']): Promise<string> {
  let text = '';
  for await (const chunk of stdin) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return text;
}

function readHidden(io: CliIo, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    io.stderr.write(prompt);
    let text = '';
    io.stdin.setRawMode?.(true);
    io.stdin.setEncoding('utf8');
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          cleanup();
          io.stderr.write('\n');
          return resolve(text);
        }
        if (ch === '\u0003') {
          cleanup();
          return reject(new Error('interrupted'));
        }
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    };
    const cleanup = (): void => {
      io.stdin.off('data', onData);
      io.stdin.setRawMode?.(false);
      io.stdin.pause();
    };
    io.stdin.on('data', onData);
    io.stdin.resume();
  });
}

export async function runHashPassword(options: { argon2id?: boolean }, io: CliIo): Promise<number> {
  let password: string;
  if (io.stdin.isTTY) {
    password = await readHidden(io, 'Password: ');
    if ((await readHidden(io, 'Again: ')) !== password) {
      io.stderr.write('the two passwords differ\n');
      return 1;
    }
  } else {
    // One line from a pipe; only the line break is removed, other whitespace is part of it.
    password = (await readAll(io.stdin)).replace(/\r?\n$/, '');
  }
  if (password === '') {
    io.stderr.write('empty password refused\n');
    return 1;
  }
  io.stdout.write((await hashPassword(password, options.argon2id ? 'argon2id' : 'bcrypt')) + '\n');
  return 0;
}
