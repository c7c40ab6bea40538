// The Dockerfile cannot be built here (no Docker engine, see toolchain.md), so it is
// checked statically: dockerfile-utils' linter must report nothing at all, and the
// properties the image promises (issue 5, item 6) are asserted on its instructions.
// The HEALTHCHECK's command is real code, so it is run against local servers.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ValidationCode, validate } from 'dockerfile-utils';
import t from 'tap';
import { parse } from 'yaml';

const root = new URL('../../../', import.meta.url).pathname;
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

interface Instruction {
  readonly keyword: string;
  /** Arguments, continuation lines joined and whitespace collapsed. */
  readonly args: string;
  readonly line: number;
}

/**
 * Splits a Dockerfile into instructions: comment lines skipped (also inside a
 * continuation, as Docker does), `\`-continued lines joined. Enough for this file, which
 * uses neither heredocs nor a custom escape directive (asserted below).
 */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let start = 0;
  let parts: string[] | null = null;
  text.split('\n').forEach((raw, i) => {
    if (/^\s*#/.test(raw) || (parts === null && raw.trim() === '')) return;
    if (parts === null) {
      parts = [];
      start = i + 1;
    }
    const continued = /\\\s*$/.test(raw);
    parts.push(continued ? raw.replace(/\\\s*$/, '') : raw);
    if (continued) return;
    const joined = parts.join(' ').replace(/\s+/g, ' ').trim();
    const space = joined.indexOf(' ');
    out.push({
      keyword: (space < 0 ? joined : joined.slice(0, space)).toUpperCase(),
      args: space < 0 ? '' : joined.slice(space + 1),
      line: start,
    });
    parts = null;
  });
  return out;
}

interface Stage {
  readonly image: string;
  readonly name: string;
  readonly body: Instruction[];
}

function stages(all: Instruction[]): Stage[] {
  const out: { image: string; name: string; body: Instruction[] }[] = [];
  for (const ins of all) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?: AS (\S+))?$/i.exec(ins.args);
      out.push({ image: m?.[1] ?? '', name: m?.[2] ?? '', body: [] });
    } else {
      out.at(-1)?.body.push(ins);
    }
  }
  return out;
}

const all = instructions(dockerfile);
const [build, runtime, ...extra] = stages(all);
const of = (stage: Stage | undefined, keyword: string): Instruction[] => (stage?.body ?? []).filter((i) => i.keyword === keyword);
const containerConfig = parse(readFileSync(join(root, 'config/container.yaml'), 'utf8')) as {
  listen: string;
  admin: { listen: string };
};
const portOf = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));

t.test('the instruction splitter', async (t) => {
  t.same(
    instructions('# syntax=docker/dockerfile:1\nFROM a AS b\n\nRUN x \\\n  # note\n  && y\ncmd ["z"]\n').map((i) => [i.keyword, i.args, i.line]),
    [
      ['FROM', 'a AS b', 2],
      ['RUN', 'x && y', 4],
      ['CMD', '["z"]', 7],
    ],
  );
  t.notMatch(dockerfile, /<<-?\s*["']?[A-Z]/, 'no heredocs (the splitter does not read them)');
  t.notMatch(dockerfile, /^#\s*escape\s*=/m, 'the default escape character');
});

t.test('dockerfile-utils reports no diagnostic at all', async (t) => {
  // Every check at its default severity (warning), none ignored: a warning fails too.
  const diagnostics = validate(dockerfile);
  t.same(
    diagnostics.map((d) => `Dockerfile:${d.range.start.line + 1}: ${d.message}`),
    [],
  );
});

t.test('the linter does report problems (so the check above can fail)', async (t) => {
  const bad = 'FROM node:20-bookworm-slim\nMAINTAINER someone\nWORKDIR app\nHEALTHCHECK --interval=5 CMD true\nCMD ["a"]\nCMD ["b"]\n';
  const codes = validate(bad).map((d) => d.code);
  t.ok(codes.includes(ValidationCode.DEPRECATED_MAINTAINER), 'MAINTAINER');
  t.ok(codes.includes(ValidationCode.WORKDIR_IS_NOT_ABSOLUTE), 'relative WORKDIR');
  t.ok(codes.includes(ValidationCode.FLAG_MISSING_DURATION), 'a duration without unit');
  t.ok(codes.includes(ValidationCode.MULTIPLE_INSTRUCTIONS), 'two CMDs');
});

t.test('two stages on the same small Debian Node image: build, then runtime', async (t) => {
  t.equal(extra.length, 0, 'no third stage');
  t.equal(build?.name, 'build');
  t.equal(runtime?.name, 'runtime', 'the last stage is the image');
  // A tag, optionally pinned by digest; never a full (~1 GB) node:20 image.
  const small = /^node:20(\.\d+){0,2}-bookworm-slim(@sha256:[0-9a-f]{64})?$/;
  t.match(build?.image, small);
  t.match(runtime?.image, small);
  t.equal(build?.image, runtime?.image, 'native modules built and run on the same libc');
});

t.test('build stage: all dependencies, then the TypeScript build', async (t) => {
  const runs = of(build, 'RUN').map((i) => i.args);
  const ci = runs.find((r) => /^npm ci\b/.test(r));
  t.ok(ci, 'npm ci');
  t.notMatch(ci ?? '', /--omit=dev|--production/, 'with the dev dependencies (tsc)');
  t.ok(runs.includes('npm run build'), 'npm run build');
  t.ok(
    of(build, 'COPY').some((i) => i.args === 'src ./src'),
    'the sources',
  );
});

t.test('runtime stage: production dependencies and the compiled output only', async (t) => {
  const runs = of(runtime, 'RUN').map((i) => i.args);
  const npm = runs.filter((r) => /\bnpm\b/.test(r));
  t.equal(npm.length, 1, 'one npm command');
  t.match(npm[0], /^npm ci --omit=dev\b/, 'npm ci --omit=dev');
  t.match(npm[0], /--ignore-scripts/, 'no dependency install script runs in the image');
  t.match(npm[0], /&& npm cache clean --force$/, 'no npm cache left in the image');
  t.notOk(runs.some((r) => /npm run build|\btsc\b/.test(r)), 'nothing is compiled here');
  const copies = of(runtime, 'COPY').map((i) => i.args);
  t.ok(copies.includes('--from=build /src/dist ./dist'), 'dist from the build stage');
  t.notOk(copies.some((c) => /^(\S+ )*src\b/.test(c) && !c.startsWith('--from=')), 'no TypeScript sources');
  t.notOk(copies.some((c) => c.includes('--chown')), 'files stay root-owned: the service user cannot change code or config');
  t.equal(all.filter((i) => i.keyword === 'ADD').length, 0, 'COPY only (ADD fetches URLs and unpacks archives)');
});

t.test('runs as a fixed numeric non-root user', async (t) => {
  const users = of(runtime, 'USER');
  t.equal(users.length, 1, 'one USER');
  const m = /^(\d+):(\d+)$/.exec(users[0]?.args ?? '');
  t.ok(m, 'uid:gid, numeric (runAsNonRoot can verify it without /etc/passwd)');
  t.not(Number(m?.[1]), 0, 'uid is not root');
  t.not(Number(m?.[2]), 0, 'gid is not root');
  const body = runtime?.body ?? [];
  const lastRun = body.map((i) => i.keyword).lastIndexOf('RUN');
  t.ok(body.indexOf(users[0]!) > lastRun, 'USER comes after the last RUN, so nothing later runs as root');
  const helm = parse(readFileSync(join(root, 'helm/gatehouse/values.yaml'), 'utf8')) as {
    podSecurityContext: { runAsUser: number; runAsGroup: number };
  };
  t.same([helm.podSecurityContext.runAsUser, helm.podSecurityContext.runAsGroup], [Number(m?.[1]), Number(m?.[2])], 'the Helm chart runs the same ids');
});

t.test('read-only root filesystem friendly', async (t) => {
  const cmd = of(runtime, 'CMD');
  t.equal(cmd.length, 1);
  const argv = JSON.parse(cmd[0]?.args ?? 'null') as unknown;
  t.same(argv, ['node', 'dist/cli/main.js', 'serve'], 'exec form, node itself (npm writes its cache and logs)');
  t.ok(existsSync(join(root, 'src/cli/main.ts')), 'dist/cli/main.js is built from src/cli/main.ts');
  t.equal(of(runtime, 'ENTRYPOINT').length, 0, 'no entrypoint script');
  t.same(
    of(runtime, 'VOLUME').map((i) => i.args),
    [],
    'no VOLUME: nothing in the image is meant to be written',
  );
});

t.test('config at /etc/gatehouse/gatehouse.yaml through GATEHOUSE_CONFIG', async (t) => {
  const env = of(runtime, 'ENV').map((i) => i.args);
  t.ok(env.includes('GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.yaml'));
  t.ok(of(runtime, 'COPY').some((i) => i.args === 'config/container.yaml /etc/gatehouse/gatehouse.yaml'), 'a working default config');
});

t.test('EXPOSE: the proxy and admin ports of the shipped config', async (t) => {
  const expose = of(runtime, 'EXPOSE').map((i) => i.args);
  t.same(expose, [`${portOf(containerConfig.listen)} ${portOf(containerConfig.admin.listen)}`]);
  t.same(expose, ['8080 9090']);
});

t.test('HEALTHCHECK: node asks the admin listener /healthz', async (t) => {
  const hc = of(runtime, 'HEALTHCHECK');
  t.equal(hc.length, 1);
  const m = /^((?:--\S+ )*)CMD (\[.*\])$/.exec(hc[0]?.args ?? '');
  t.ok(m, 'options, then CMD in exec form');
  const flags = Object.fromEntries((m?.[1] ?? '').trim().split(' ').map((f) => f.replace(/^--/, '').split('=') as [string, string]));
  t.same(Object.keys(flags).sort(), ['interval', 'retries', 'start-period', 'timeout']);
  const argv = JSON.parse(m?.[2] ?? '[]') as string[];
  t.equal(argv[0], 'node', 'no curl or wget in the slim image');
  t.equal(argv[1], '-e');
  const script = argv[2] ?? '';
  // The fetch gives up before Docker's own --timeout kills it.
  const ms = Number(/AbortSignal\.timeout\((\d+)\)/.exec(script)?.[1]);
  t.ok(ms > 0 && ms < Number(/^(\d+)s$/.exec(flags.timeout ?? '')?.[1]) * 1000, `fetch timeout ${ms} ms < --timeout ${flags.timeout}`);
  const url = of(runtime, 'ENV')
    .map((i) => /^GATEHOUSE_HEALTHCHECK_URL=(\S+)$/.exec(i.args)?.[1])
    .find((u) => u !== undefined);
  t.equal(url, `http://127.0.0.1:${portOf(containerConfig.admin.listen)}/healthz`, 'the admin listener of the shipped config');

  // Run the command itself against servers answering as a live, a failing and a hung
  // gatehouse would.
  const run = (target: string): Promise<number> =>
    new Promise((resolve) => {
      execFile(process.execPath, argv.slice(1), { env: { ...process.env, GATEHOUSE_HEALTHCHECK_URL: target }, timeout: 20_000 }, (err) => {
        resolve(err ? (typeof err.code === 'number' ? err.code : -1) : 0);
      });
    });
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/healthz') res.end('{"status":"ok"}');
    else if (req.url === '/hang') return; // never answers
    else {
      res.statusCode = 503;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.equal(await run(`${base}/healthz`), 0, '200: healthy');
  t.equal(await run(`${base}/down`), 1, '503: unhealthy');
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  t.equal(await run(`http://127.0.0.1:${closedPort}/healthz`), 1, 'connection refused: unhealthy');
  const started = Date.now();
  t.equal(await run(`${base}/hang`), 1, 'no answer: unhealthy');
  t.ok(Date.now() - started < ms + 2000, 'gives up after its own timeout');
  t.same(seen, ['/healthz', '/down', '/hang']);
});

/** Docker's .dockerignore matching, enough for plain patterns, `*`, `?` and `**`. */
function ignored(patterns: readonly string[], path: string): boolean {
  const toRegex = (p: string): RegExp =>
    new RegExp(
      '^' +
        p
          .replace(/^\/+|\/+$/g, '')
          .split('/')
          .map((seg) => (seg === '**' ? '(?:[^/]+/)*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '/'))
          .join('')
          .replace(/\/$/, '') +
        // A pattern that matches a folder excludes everything inside it.
        '(?:/.*)?$',
    );
  let out = false;
  for (const line of patterns) {
    const negated = line.startsWith('!');
    if (toRegex(negated ? line.slice(1) : line).test(path)) out = !negated;
  }
  return out;
}

t.test('.dockerignore keeps the context small without dropping what the build copies', async (t) => {
  const patterns = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  t.equal(ignored(['**/node_modules'], 'node_modules/x'), true, 'matcher: ** at the start');
  t.equal(ignored(['*.md'], 'README.md'), true, 'matcher: *');
  t.equal(ignored(['*.md'], 'docs/a.md'), false, 'matcher: * stays in its folder');
  t.equal(ignored(['test', '!test/keep'], 'test/keep/x'), false, 'matcher: exceptions');
  for (const path of ['node_modules', 'src/node_modules/x', '.git', 'dist', 'test', '.env', 'coverage', 'helm']) {
    t.equal(ignored(patterns, path), true, `${path} stays out`);
  }
  const sources = all
    .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))
    .flatMap((i) => i.args.split(' ').slice(0, -1));
  t.same(sources, ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'package.json', 'package-lock.json', 'config', 'config/container.yaml']);
  for (const source of new Set(sources)) {
    t.ok(existsSync(join(root, source)), `${source} exists`);
    t.equal(ignored(patterns, source), false, `${source} is in the build context`);
  }
  t.equal(ignored(patterns, 'src/cli/main.ts'), false, 'files inside src are kept');
});
