// `gatehouse sessions list [--user NAME]` and `gatehouse sessions revoke --user NAME`:
// operators look at and end sessions in the shared store. Revocation takes effect on
// every instance at once: no instance caches a session (security.md §8).
import type { SessionSummary } from '../sessions/types.js';
import { configPath, type CliIo } from './io.js';
import { loadAndCompile } from './load-compiled.js';

export interface SessionsOptions {
  readonly config: string | undefined;
  readonly action: string | undefined;
  readonly user: string | undefined;
  readonly json: boolean;
}

function row(s: SessionSummary): string {
  const iso = (ms: number): string => new Date(ms).toISOString();
  return [s.idHash, s.user, s.provider, iso(s.createdAt), iso(s.lastSeenAt), iso(s.expiresAt)].join('\t');
}

export async function runSessions(options: SessionsOptions, io: CliIo): Promise<number> {
  if (options.action !== 'list' && options.action !== 'revoke') {
    io.stderr.write('sessions needs list or revoke: gatehouse sessions list [--user NAME] | gatehouse sessions revoke --user NAME\n');
    return 2;
  }
  if (options.action === 'revoke' && (options.user === undefined || options.user === '')) {
    io.stderr.write('sessions revoke needs --user NAME\n');
    return 2;
  }
  const file = configPath(options.config, io.env);
  const loaded = await loadAndCompile(file, io.env);
  if (!loaded.ok) {
    for (const line of loaded.messages) io.stderr.write(line + '\n');
    return 1;
  }
  const config = loaded.config;
  try {
    const store = config.sessions?.shared.store;
    if (!store) {
      io.stderr.write(`${file} configures no sessions\n`);
      return 1;
    }
    if (store.kind === 'memory') {
      io.stderr.write('the memory session store lives inside the serving process; use sessions.store: redis to manage sessions from the command line\n');
      return 1;
    }
    try {
      if (options.action === 'revoke') {
        const count = await store.deleteByUser(options.user!);
        io.stdout.write(options.json ? `${JSON.stringify({ user: options.user, revoked: count })}\n` : `revoked ${count} session(s) of ${options.user}\n`);
        return 0;
      }
      const list = await store.list(options.user === undefined ? {} : { user: options.user });
      if (options.json) io.stdout.write(`${JSON.stringify(list.map((s) => ({ id: s.idHash, user: s.user, provider: s.provider, createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, expiresAt: s.expiresAt })))}\n`);
      else {
        io.stdout.write('id\tuser\tprovider\tcreated\tlast seen\texpires\n');
        for (const s of list) io.stdout.write(row(s) + '\n');
      }
      return 0;
    } catch (error) {
      io.stderr.write(`session store unavailable (${(error as { code?: string }).code ?? (error as Error).name})\n`);
      return 1;
    }
  } finally {
    await config.close();
  }
}
