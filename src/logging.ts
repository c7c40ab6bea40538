// pino options: one JSON line per request decision, secrets redacted wherever a
// request or error object could carry them (security.md §13).
//
// Cost matters: the decision line is written on every request. Measured on these
// machines (bench/README.md), an unbuffered async write per line plus wildcard redaction
// cost ~22 µs per request, ~70% of gatehouse's overhead over a bare proxy. So lines are
// buffered (4 KiB, flushed every second and at exit) and redaction uses fixed paths only:
// request lines carry a fixed set of non-secret fields by construction (request-log.ts).
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
];

const FLUSH_EVERY_MS = 1000;

function bufferedStdout(): DestinationStream {
  const stream = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const timer = setInterval(() => stream.flush(), FLUSH_EVERY_MS);
  timer.unref();
  // Lines still buffered when the process ends are written synchronously.
  process.once('exit', () => {
    try {
      stream.flushSync();
    } catch {
      // stdout already closed: nothing left to write to.
    }
  });
  return stream;
}

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? bufferedStdout(),
  );
}

export type { Logger };
