// Starts a real gateway (real listeners on loopback) from YAML text, capturing its log lines.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { compileConfig } from '../../src/config/compile.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';

export interface TestGateway {
  readonly url: string;
  readonly adminUrl: string | undefined;
  readonly gateway: Gateway;
  readonly dir: string;
  /** Parsed JSON log lines, in order. */
  readonly logs: Array<Record<string, unknown>>;
  /** Raw log text, for "never contains a secret" assertions. */
  logText(): string;
  close(): Promise<void>;
}

export async function startTestGateway(yaml: string, opts: { files?: Record<string, string>; env?: NodeJS.ProcessEnv } = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), content);
  let text = yaml;
  if (!/^listen:/m.test(text)) text = `listen: 127.0.0.1:0\n${text}`;
  if (!/^admin:/m.test(text)) text = `admin: { listen: "127.0.0.1:0" }\n${text}`;
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, text);
  const config = await compileConfig(loadConfigFile(file, opts.env ?? {}));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const log = createLogger('info', sink);
  const gateway = await startGateway({ config, log, retireAfterMs: 50 });
  return {
    url: gateway.proxyUrl,
    adminUrl: gateway.adminUrl,
    gateway,
    dir,
    get logs() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => lines.join('\n'),
    close: () => gateway.close(),
  };
}

/** The log lines of request decisions, in order. */
export function requestLines(gw: TestGateway): Array<Record<string, unknown>> {
  return gw.logs.filter((l) => l.msg === 'request');
}
