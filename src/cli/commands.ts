// gatehouse command line: serve (default), check, explain, hash-password, schema, sessions.
import { parseArgs } from 'node:util';
import { runCheck } from './check.js';
import { runExplain } from './explain.js';
import { runHashPassword } from './hash-password.js';
import type { CliIo } from './io.js';
import { runSchema } from './schema.js';
import { runServe } from './serve.js';
import { runSessions } from './sessions.js';

export const USAGE = `usage: gatehouse [serve] [-c FILE]
       gatehouse check [-c FILE]
       gatehouse explain [-c FILE] METHOD URL [--header 'Name: value']... [--peer IP] [--json]
       gatehouse hash-password [--argon2id]
       gatehouse schema
       gatehouse sessions list [-c FILE] [--user NAME] [--json]
       gatehouse sessions revoke [-c FILE] --user NAME

Config is read from -c, else $GATEHOUSE_CONFIG, else ./config/gatehouse.yaml.
`;

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        header: { type: 'string', short: 'H', multiple: true },
        peer: { type: 'string' },
        json: { type: 'boolean' },
        argon2id: { type: 'boolean' },
        user: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const [command = 'serve', ...rest] = positionals;
  const config = values.config;
  switch (command) {
    case 'serve':
      return runServe({ config }, io);
    case 'check':
      return runCheck({ config }, io);
    case 'schema':
      return runSchema(io);
    case 'hash-password':
      return runHashPassword({ argon2id: values.argon2id ?? false }, io);
    case 'explain': {
      if (rest.length !== 2) {
        io.stderr.write(`explain needs METHOD and URL\n\n${USAGE}`);
        return 2;
      }
      return runExplain({ config, method: rest[0]!, url: rest[1]!, headers: values.header ?? [], peer: values.peer, json: values.json ?? false }, io);
    }
    case 'sessions':
      return runSessions({ config, action: rest[0], user: values.user, json: values.json ?? false }, io);
    default:
      io.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}
