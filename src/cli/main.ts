#!/usr/bin/env node
// The `gatehouse` executable; the commands live in commands.ts so tests can run them in-process.
import { main } from './commands.js';

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`gatehouse: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
