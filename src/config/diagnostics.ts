// Problems found in a configuration file, each pinned to file:line:column and the key
// it is about, e.g. `gatehouse.yaml:14:9 routes[2].headers.X-Tenant: unknown variable`.
// Messages never carry a configured value: a value may come from `${env:}`/`${file:}`
// and hold a secret (security.md §13).

export interface Diagnostic {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based, in characters. */
  readonly column: number;
  /** As formatKeyPath prints it; '' for the document as a whole. */
  readonly keyPath: string;
  readonly message: string;
}

/**
 * `file:line:column keyPath: message`, or `file:line:column message` when the
 * diagnostic concerns no particular key (YAML syntax, the document as a whole).
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.column}`;
  return d.keyPath === '' ? `${where} ${d.message}` : `${where} ${d.keyPath}: ${d.message}`;
}

// A key printed bare after a dot; anything else is printed as a JSON string in brackets,
// so a dot or a space inside a key (claim paths, odd header maps) cannot blur the path
// and control characters in a key cannot reach a terminal.
const BARE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * ['routes', 2, 'headers', 'X-Tenant'] → `routes[2].headers.X-Tenant`;
 * ['allow', 'claims', 'realm_access.roles'] → `allow.claims["realm_access.roles"]`.
 * Keys matching /^[A-Za-z_][A-Za-z0-9_-]*$/ are bare, others quoted; numbers are indexes.
 */
export function formatKeyPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (BARE_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** Thrown by loading and compiling; lists every problem found, not just the first. */
export class ConfigError extends Error {
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'ConfigError';
    this.diagnostics = Object.freeze([...diagnostics]);
  }
}
