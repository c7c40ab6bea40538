// The built-in `echo` upstream: answers with the request gatehouse would have forwarded
// (method, path, headers after strip-then-set), so a policy can be tried without a
// backend. Identity headers appear here exactly as an upstream would receive them.
import type { ForwardRequest } from '../pipeline/run.js';

export interface EchoBody {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly bodyBytes: number;
}

export function echoBody(forward: ForwardRequest, bodyBytes: number): EchoBody {
  return { method: forward.method, path: forward.target, headers: forward.headers, bodyBytes };
}
