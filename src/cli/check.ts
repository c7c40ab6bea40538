// `gatehouse check -c FILE`: every problem with file:line:column and key; exit 1 on any.
import { configPath, type CliIo } from './io.js';
import { loadAndCompile } from './load-compiled.js';

export async function runCheck(options: { config?: string }, io: CliIo): Promise<number> {
  const file = configPath(options.config, io.env);
  const loaded = await loadAndCompile(file, io.env);
  if (!loaded.ok) {
    for (const line of loaded.messages) io.stderr.write(line + '\n');
    io.stderr.write(`${file}: ${loaded.messages.length} problem${loaded.messages.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  const { config } = loaded;
  io.stdout.write(`${file}: ok (${config.policy.routes.length} routes, ${config.authenticators.size} authenticators)\n`);
  await config.close();
  return 0;
}
