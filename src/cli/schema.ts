// `gatehouse schema`: the config's JSON Schema, for editors (yaml-language-server).
import { configJsonSchema } from '../config/load.js';
import type { CliIo } from './io.js';

export async function runSchema(io: CliIo): Promise<number> {
  io.stdout.write(JSON.stringify(configJsonSchema(), null, 2) + '\n');
  return 0;
}
