// What a subcommand may touch, so tests can run it in-process with captured output.
import type { Readable, Writable } from 'node:stream';

export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly env: NodeJS.ProcessEnv;
}

export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? env.GATEHOUSE_CONFIG ?? './config/gatehouse.yaml';
}
