// load + compile, the one path `serve`, `check`, `explain` and reload share.
import { compileConfig, type CompileDeps, type CompiledConfig } from '../config/compile.js';
import { ConfigError } from '../config/diagnostics.js';
import { loadConfigFile } from '../config/load.js';

export type Loaded = { ok: true; config: CompiledConfig } | { ok: false; messages: string[] };

export async function loadAndCompile(file: string, env: NodeJS.ProcessEnv, deps: CompileDeps = {}): Promise<Loaded> {
  try {
    return { ok: true, config: await compileConfig(loadConfigFile(file, env), deps) };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, messages: error.message.split('\n') };
    throw error;
  }
}
