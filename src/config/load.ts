// Reads gatehouse.yaml into a validated, defaulted, deep-frozen object, remembering where
// every key sits in the file so that each problem (here or later in compile) is reported
// as file:line:column and key path. All problems of a file are reported in one run.
//
// Decisions:
// - YAML: the core schema (YAML 1.2), merge keys (`<<`) off, anchors and aliases allowed
//   but at most MAX_ALIAS_EXPANSIONS expansions per file (billion-laughs guard). Keys are
//   scalars, compared after conversion to strings (so `1:` and `"1":` are duplicates).
// - `${env:NAME}` and `${file:PATH}` are replaced in string VALUES (never keys), once,
//   after parsing: what they bring in is never parsed as YAML and is always a string
//   (so `${env:PORT}` cannot stand for a number; durations also accept "30" as 30s).
//   `$${` writes a literal `${`. A variable that is set but empty counts as set.
//   `${file:}` paths are relative to the config file's folder; files over 1 MiB, or not
//   UTF-8 text, are refused. One trailing line break of the file's content is removed,
//   unless the reference is the whole value and the content is PEM text (contains
//   "-----BEGIN "): certificates keep their final newline, passwords and tokens written
//   with `echo >` do not gain one.
// - Values that came from a substitution are never quoted in any message
//   (security.md §13); other messages quote keys and schema facts, never values.
// - Positions: a problem with a value points at the value (at the key when the value is
//   empty); an unknown or invalid key points at the key; a missing key at its mapping.
//   Inside an alias expansion positions point at the alias.
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import { ConfigError, formatDiagnostic, formatKeyPath, type Diagnostic } from './diagnostics.js';
import { parseDuration } from './duration.js';
import {
  CONFIG_FORMATS,
  DurationTag,
  Expect,
  GatehouseConfigSchema,
  Messages,
  Noun,
  type GatehouseConfig,
} from './schema.js';

export type KeyPath = readonly (string | number)[];

export interface Position {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

export interface LoadedConfig {
  /** The file name as given (relative stays relative); used in messages. */
  readonly file: string;
  /** Absolute folder of the file; relative paths in the config resolve against it. */
  readonly dir: string;
  /** Validated, defaults applied, durations in milliseconds, substitutions done, deep-frozen. */
  readonly input: GatehouseConfig;
  /**
   * Position of a key path in the file, for diagnostics raised later by the compiler;
   * falls back to the nearest existing parent (a defaulted key: its mapping). `part`
   * 'key' points at the key itself rather than its value (for "bad name" problems).
   */
  locate(path: KeyPath, part?: 'value' | 'key'): Position;
  diagnostic(path: KeyPath, message: string, part?: 'value' | 'key'): Diagnostic;
}

/** Alias expansions allowed per file; legitimate configs use a handful. */
export const MAX_ALIAS_EXPANSIONS = 100;
/** Largest file `${file:}` reads. */
export const MAX_SUBSTITUTED_FILE_BYTES = 1024 * 1024;
const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

/** Reads, parses and validates a config file; throws ConfigError listing ALL problems. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const text = readTextFile(resolve(file), MAX_CONFIG_FILE_BYTES);
  if (typeof text !== 'string') {
    throw new ConfigError([
      { file, line: 1, column: 1, keyPath: '', message: `cannot read the configuration file: ${text.error}` },
    ]);
  }
  return loadConfigText(text, file, env);
}

/** Like loadConfigFile, for text already in memory; `file` names it in messages and anchors `${file:}`. */
export function loadConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const dir = dirname(resolve(file));
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const source = new Source(file, lineCounter);

  if (doc.errors.length > 0 || doc.warnings.length > 0) {
    // A broken document has no trustworthy structure: report the syntax, nothing else.
    throw source.error(yamlProblems(doc, text, lineCounter));
  }

  const reader = new Reader(doc, source, dir, env);
  const data = reader.read();
  const problems = [...reader.problems];
  if (problems.length === 0 && data === null) {
    problems.push({ path: [], message: 'the file is empty; a configuration needs at least "routes"' });
  } else if (problems.length === 0 || data !== undefined) {
    const validate = validator();
    if (!validate(data)) {
      // A value whose substitution failed holds its raw text (or null): the schema's
      // verdict on it is noise after the real problem.
      const errors = (validate.errors as ErrorObject[]).filter((e) => !reader.failed.has(e.instancePath));
      problems.push(...explain(errors, data, reader.substituted));
    }
  }
  if (problems.length > 0) throw source.error(problems);

  const input = deepFreeze(finish(GatehouseConfigSchema as unknown as SchemaNode, data)) as GatehouseConfig;
  const loaded: LoadedConfig = {
    file,
    dir,
    input,
    locate: (path, part = 'value') => source.locate(path, part),
    diagnostic: (path, message, part = 'value') => source.diagnostic({ path, message, at: part }),
  };
  return Object.freeze(loaded);
}

/**
 * The JSON Schema `gatehouse schema` prints: the file form, without internal
 * annotations. An editor sees values before substitution, so there every `pattern`
 * also accepts a string holding a `${env:}`/`${file:}` reference (the loader checks
 * the substituted value against the strict pattern).
 */
export function configJsonSchema(): object {
  const schema = JSON.parse(JSON.stringify(GatehouseConfigSchema)) as Record<string, unknown>;
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...(allowReferences(schema) as object) };
}

function allowReferences(node: unknown, key?: string): unknown {
  if (Array.isArray(node)) return node.map((item) => allowReferences(item));
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    // Keys are never substituted: their patterns stay strict.
    if (k === 'propertyNames') out[k] = v;
    else if (k === 'pattern' && key !== 'properties') out[k] = `(?:${String(v)})|\\$\\{(?:env|file):`;
    else out[k] = allowReferences(v, k);
  }
  return out;
}

// --- positions and diagnostics ------------------------------------------------------

interface Problem {
  readonly path: KeyPath;
  readonly message: string;
  /** Where to point: an explicit source offset, else the value (or key) at `path`. */
  readonly offset?: number;
  readonly at?: 'value' | 'key';
}

/** JSON Pointer of a path, the form Ajv's `instancePath` uses ('' is the root). */
function pointer(path: KeyPath): string {
  return path.map((s) => `/${String(s).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

class Source {
  readonly valueAt = new Map<string, number>();
  readonly keyAt = new Map<string, number>();

  constructor(
    readonly file: string,
    private readonly lineCounter: LineCounter,
  ) {}

  locate(path: KeyPath, part: 'value' | 'key'): Position {
    for (let n = path.length; n >= 0; n--) {
      const at = pointer(path.slice(0, n));
      // A missing key falls back to its parent's value, never to the parent's key.
      const offset = part === 'key' && n === path.length ? this.keyAt.get(at) : this.valueAt.get(at);
      if (offset !== undefined) return this.position(offset);
    }
    return { line: 1, column: 1 };
  }

  position(offset: number): Position {
    const { line, col } = this.lineCounter.linePos(offset);
    return { line, column: col };
  }

  diagnostic(p: Problem): Diagnostic {
    const { line, column } = p.offset === undefined ? this.locate(p.path, p.at ?? 'value') : this.position(p.offset);
    return { file: this.file, line, column, keyPath: formatKeyPath(p.path), message: p.message };
  }

  error(problems: readonly Problem[]): ConfigError {
    // One line per distinct text: a pattern and a format failing on the same value say
    // the same thing, and an anchored scalar may fail at every alias of it.
    const unique = new Map<string, Diagnostic>();
    for (const d of problems.map((p) => this.diagnostic(p))) unique.set(formatDiagnostic(d), d);
    return new ConfigError([...unique.values()].sort((a, b) => a.line - b.line || a.column - b.column));
  }
}

/**
 * YAML errors and warnings (an unresolved tag is an error here too). After the first
 * UNEXPECTED_TOKEN the parser has lost track and every later token is "unexpected":
 * those echoes are dropped; other errors (indentation, duplicate keys) are kept.
 */
function yamlProblems(doc: Document, text: string, lineCounter: LineCounter): Problem[] {
  const problems: Problem[] = [];
  let lost = false;
  for (const e of [...doc.errors, ...doc.warnings]) {
    if (e.code === 'UNEXPECTED_TOKEN') {
      if (lost) continue;
      lost = true;
    }
    const offset = e.pos[0];
    const duplicate = e.code === 'DUPLICATE_KEY' ? findKey(doc.contents, offset, []) : undefined;
    if (duplicate !== undefined) {
      problems.push({ path: duplicate.path, offset, message: `duplicate key ${JSON.stringify(duplicate.key)}` });
      continue;
    }
    // `{ cert: ${file:./tls.crt} }` is not YAML: in flow context `{` opens a mapping.
    const { line } = lineCounter.linePos(offset);
    const lineText = text.slice(lineCounter.lineStarts[line - 1], lineCounter.lineStarts[line]);
    const hint = lineText.includes('${')
      ? '; inside { } or [ ], quote ${...} references: key: "${env:NAME}"'
      : '';
    problems.push({ path: [], offset, message: `${e.message}${hint}` });
  }
  return problems;
}

function findKey(node: unknown, offset: number, path: (string | number)[]): { path: KeyPath; key: string } | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      // Parsed keys are nodes with ranges; only scalar keys can be duplicates.
      const key = pair.key as { value?: unknown; range: [number, number, number] };
      if (key.range[0] === offset) return { path, key: String(key.value) };
      const found = findKey(pair.value, offset, [...path, String(key.value)]);
      if (found) return found;
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = findKey(item, offset, [...path, i]);
      if (found) return found;
    }
  }
  return undefined;
}

// --- YAML → plain data, with positions and substitutions ----------------------------

class Reader {
  readonly problems: Problem[] = [];
  /** Pointers of values that came (partly) from `${env:}`/`${file:}`: never quote them. */
  readonly substituted = new Set<string>();
  /** Pointers of values whose substitution failed: already reported, skip schema noise. */
  readonly failed = new Set<string>();
  private aliases = 0;

  constructor(
    private readonly doc: Document,
    private readonly source: Source,
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The document's data; `undefined` when the alias guard stopped the walk. */
  read(): unknown {
    const data = this.value(this.doc.contents as YamlNode | null, [], true, new Set());
    return this.aliases > MAX_ALIAS_EXPANSIONS ? undefined : data;
  }

  private value(node: YamlNode | null, path: KeyPath, record: boolean, open: Set<YamlNode>): unknown {
    if (node === null) return null;
    const offset = (node.range as [number, number, number])[0];
    if (record && !this.source.valueAt.has(pointer(path))) this.source.valueAt.set(pointer(path), offset);
    if (isAlias(node)) return this.alias(node, offset, path, open);
    if (isScalar(node)) {
      return typeof node.value === 'string' ? this.substitute(node.value, path, offset) : node.value;
    }
    open.add(node);
    try {
      if (isSeq(node)) return node.items.map((item, i) => this.value(item as YamlNode | null, [...path, i], record, open));
      return this.mapping(node as Extract<YamlNode, { items: unknown }>, path, record, open);
    } finally {
      open.delete(node);
    }
  }

  private alias(node: Extract<YamlNode, { source: string }>, offset: number, path: KeyPath, open: Set<YamlNode>): unknown {
    if (this.aliases > MAX_ALIAS_EXPANSIONS) return null;
    if (++this.aliases > MAX_ALIAS_EXPANSIONS) {
      this.problems.push({
        path,
        offset,
        message: `more than ${MAX_ALIAS_EXPANSIONS} alias expansions in one file (a guard against exponential expansion)`,
      });
      return null;
    }
    const target = (node as unknown as { resolve(doc: Document): YamlNode | undefined }).resolve(this.doc);
    if (target === undefined) {
      this.fail(path, offset, `alias *${node.source} has no anchor &${node.source} before it`);
      return null;
    }
    if (open.has(target)) {
      this.fail(path, offset, `alias *${node.source} refers to a collection that contains it`);
      return null;
    }
    // Positions inside the expansion are left unrecorded: they resolve to the alias.
    return this.value(target, path, false, open);
  }

  private mapping(node: Extract<YamlNode, { items: unknown }>, path: KeyPath, record: boolean, open: Set<YamlNode>): unknown {
    const out: Record<string, unknown> = {};
    for (const pair of node.items as { key: unknown; value: unknown }[]) {
      // A parsed key is a node (an empty key is a null scalar), with a range.
      const keyNode = pair.key as YamlNode;
      const keyOffset = (keyNode.range as [number, number, number])[0];
      if (!isScalar(keyNode) || keyNode.value === null) {
        this.problems.push({ path, offset: keyOffset, message: 'keys must be plain names, not empty, lists, mappings or aliases' });
        continue;
      }
      const key = String(keyNode.value);
      const childPath = [...path, key];
      if (Object.hasOwn(out, key)) {
        this.problems.push({ path, offset: keyOffset, message: `duplicate key ${JSON.stringify(key)}` });
        continue;
      }
      const valueNode = pair.value as YamlNode | null;
      if (record) {
        this.source.keyAt.set(pointer(childPath), keyOffset);
        // `key:` with nothing after it: point at the key, not at the empty space after it.
        if (valueNode === null || (isScalar(valueNode) && valueNode.value === null && valueNode.source === '')) {
          this.source.valueAt.set(pointer(childPath), keyOffset);
        }
      }
      define(out, key, this.value(valueNode, childPath, record, open));
    }
    return out;
  }

  private substitute(raw: string, path: KeyPath, offset: number): string {
    const token = /\$(\$?)\{/g;
    let out = '';
    let last = 0;
    let replaced = false;
    let ok = true;
    for (let m = token.exec(raw); m !== null; m = token.exec(raw)) {
      out += raw.slice(last, m.index);
      if (m[1] === '$') {
        out += '${';
        last = token.lastIndex;
        continue;
      }
      const close = raw.indexOf('}', token.lastIndex);
      if (close < 0) {
        this.fail(path, offset, 'unterminated "${": close it with "}", or write "$${" for a literal "${"');
        return raw;
      }
      const whole = m.index === 0 && close === raw.length - 1;
      const value = this.reference(raw.slice(token.lastIndex, close), whole, path, offset);
      if (value === undefined) ok = false;
      else out += value;
      replaced = true;
      last = close + 1;
      token.lastIndex = last;
    }
    if (!ok) return raw;
    if (replaced) this.substituted.add(pointer(path));
    return out + raw.slice(last);
  }

  private reference(ref: string, whole: boolean, path: KeyPath, offset: number): string | undefined {
    const env = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(ref);
    if (env !== null) {
      const name = env[1] as string;
      const value = this.env[name];
      if (value === undefined) this.fail(path, offset, `environment variable ${name} is not set (\${env:${name}})`);
      return value;
    }
    if (ref.startsWith('file:') && ref.length > 5) {
      const name = ref.slice(5);
      const content = readTextFile(resolve(this.dir, name), MAX_SUBSTITUTED_FILE_BYTES);
      if (typeof content !== 'string') {
        this.fail(path, offset, `cannot read ${JSON.stringify(name)} (\${file:${name}}): ${content.error}`);
        return undefined;
      }
      return whole && content.includes('-----BEGIN ') ? content : content.replace(/\r?\n$/, '');
    }
    // The text between the braces is not quoted: it may be a mistyped secret.
    this.fail(path, offset, 'unsupported "${...}": write ${env:NAME} or ${file:PATH}, or "$${" for a literal "${"');
    return undefined;
  }

  private fail(path: KeyPath, offset: number, message: string): void {
    this.failed.add(pointer(path));
    this.problems.push({ path, offset, message });
  }
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, so a key named __proto__ is data, not a prototype switch.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const FS_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

function readTextFile(path: string, maxBytes: number): string | { error: string } {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) return { error: `${path} is not a regular file` };
    if (stat.size > maxBytes) return { error: `${path} is larger than ${maxBytes} bytes` };
    const bytes = readFileSync(path);
    try {
      return utf8.decode(bytes);
    } catch {
      return { error: `${path} is not UTF-8 text` };
    }
  } catch (err) {
    const code = String((err as NodeJS.ErrnoException).code);
    return { error: `${path}: ${FS_REASONS[code] ?? code}` };
  }
}

// --- schema validation and its messages ---------------------------------------------

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled === undefined) {
    const ajv = new Ajv({ allErrors: true, verbose: true, discriminator: true, strict: true });
    for (const [name, format] of Object.entries(CONFIG_FORMATS)) {
      ajv.addFormat(name, format as Parameters<Ajv['addFormat']>[1]);
    }
    compiled = ajv.compile(GatehouseConfigSchema);
  }
  return compiled;
}

type SchemaNode = Record<string | symbol, unknown> & {
  readonly properties?: Record<string, SchemaNode>;
  readonly patternProperties?: Record<string, SchemaNode>;
  readonly items?: SchemaNode;
  readonly anyOf?: SchemaNode[];
  readonly oneOf?: SchemaNode[];
  readonly type?: string;
};

/**
 * Keeps, for each failed `anyOf`, either the errors of the one branch whose type matched
 * (`auth: [web, 5]` → `auth[1]: must be …`) or, when no branch's type matched, the
 * `anyOf` error alone (one message from the union's Expect text), instead of an error
 * per branch.
 */
function collapse(errors: readonly ErrorObject[]): ErrorObject[] {
  const anyOf = errors
    .filter((e) => e.keyword === 'anyOf')
    .sort((a, b) => a.schemaPath.length - b.schemaPath.length)[0];
  if (anyOf === undefined) return [...errors];
  const prefix = `${anyOf.schemaPath}/`;
  const at = anyOf.instancePath;
  const isBranchError = (e: ErrorObject) =>
    e.schemaPath.startsWith(prefix) && (e.instancePath === at || e.instancePath.startsWith(`${at}/`));
  const branches = new Map<string, ErrorObject[]>();
  for (const e of errors.filter(isBranchError)) {
    const branch = e.schemaPath.slice(prefix.length).split('/')[0] as string;
    branches.set(branch, [...(branches.get(branch) ?? []), e]);
  }
  const rest = errors.filter((e) => e !== anyOf && !isBranchError(e));
  const near = [...branches.values()].find(
    (errs) => !errs.some((e) => e.instancePath === at && (e.keyword === 'type' || e.keyword === 'const')),
  );
  return [...collapse(rest), ...(near === undefined ? [anyOf] : collapse(near))];
}

function explain(errors: readonly ErrorObject[], data: unknown, substituted: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  // Missing keys of one mapping make one line: `routes[1]: missing required keys "name", "match"`.
  const missing = new Map<string, string[]>();
  for (const e of collapse(errors)) {
    if (e.keyword === 'required') {
      const keys = missing.get(e.instancePath) ?? [];
      if (keys.length === 0) missing.set(e.instancePath, keys);
      keys.push(JSON.stringify(e.params.missingProperty));
      continue;
    }
    const problem = describe(e, data, substituted);
    if (problem !== undefined) problems.push(problem);
  }
  for (const [at, keys] of missing) {
    const message = keys.length === 1 ? `missing required key ${keys[0]}` : `missing required keys ${keys.join(', ')}`;
    problems.push({ path: toPath(at, data), message });
  }
  return problems;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
};

function describe(e: ErrorObject, data: unknown, substituted: ReadonlySet<string>): Problem | undefined {
  const path = toPath(e.instancePath, data);
  const schema = e.parentSchema as SchemaNode;
  const params = e.params as Record<string, unknown>;
  const expect = schema[Expect] as string | undefined;
  const custom = (schema[Messages] as Record<string, string> | undefined)?.[e.keyword];

  if (e.keyword === 'propertyNames') return undefined; // the inner error (below) says why
  if (e.propertyName !== undefined) {
    const why = custom ?? (expect === undefined ? keywordMessage(e.keyword, params) : `must be ${expect}`);
    return { path: [...path, e.propertyName], at: 'key', message: `name ${why}` };
  }
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const hint = suggest(key, Object.keys(schema.properties as object));
      return {
        path: [...path, key],
        at: 'key',
        message: `unknown key ${JSON.stringify(key)}${hint === undefined ? '' : `; did you mean ${JSON.stringify(hint)}?`}`,
      };
    }
    case 'discriminator': {
      const tag = String(params.tag);
      const variants = schema.oneOf as SchemaNode[];
      const allowed = variants.map((v) => ((v.properties as Record<string, SchemaNode>)[tag] as SchemaNode).const).join(', ');
      const noun = String(schema[Noun]);
      const tagPath = [...path, tag];
      if (params.error === 'mapping') {
        // The type may have come from ${env:}; then it is not quoted (security.md §13).
        const shown = substituted.has(pointer(tagPath)) ? '' : ` ${JSON.stringify(params.tagValue)}`;
        return { path: tagPath, message: `unknown ${noun}${shown}; expected one of: ${allowed}` };
      }
      return Object.hasOwn(valueAt(data, path) as object, tag)
        ? { path: tagPath, message: `must be one of: ${allowed}` }
        : { path, message: `missing required key ${JSON.stringify(tag)} (one of: ${allowed})` };
    }
    default:
      return {
        path,
        message: custom ?? (expect === undefined || e.keyword === 'enum' ? keywordMessage(e.keyword, params) : `must be ${expect}`),
      };
  }
}

/**
 * Ajv's facts in our words, for keywords whose schema has no Expect text. Never uses
 * the data: only the schema's limits. (Every minLength/minItems in the schema is 1; a
 * test holds it to that.)
 */
function keywordMessage(keyword: string, params: Record<string, unknown>): string {
  switch (keyword) {
    case 'type':
      return `must be ${TYPE_WORDS[String(params.type)] as string}`;
    case 'minimum':
      return `must be at least ${String(params.limit)}`;
    case 'minLength':
    case 'minItems':
      return 'must not be empty';
    case 'enum':
      return `must be one of: ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
    /* c8 ignore next 3 */
    default:
      // Unreachable with today's schema (schema-docs.test.ts lists its keywords); defensive.
      return `is invalid (${keyword})`;
  }
}

/** Ajv's instancePath as a key path; segments under a list become numbers. */
function toPath(instancePath: string, data: unknown): KeyPath {
  const path: (string | number)[] = [];
  let node = data;
  for (const raw of instancePath.split('/').slice(1)) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    const key = Array.isArray(node) ? Number(segment) : segment;
    path.push(key);
    node = (node as Record<string | number, unknown>)[key];
  }
  return path;
}

function valueAt(data: unknown, path: KeyPath): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], data);
}

/** The closest known key within an edit distance of 2 (case ignored), if any. */
function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance && d < key.length) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

// --- defaults and durations ---------------------------------------------------------

/**
 * A copy of valid data with every default filled in (recursively: a defaulted object
 * gets its own members' defaults) and every duration converted to milliseconds.
 */
function finish(schema: SchemaNode, value: unknown): unknown {
  if (schema[DurationTag] === true) return parseDuration(value as string | number);
  if (schema.oneOf !== undefined) {
    const type = (value as { type: unknown }).type;
    return finish(schema.oneOf.find((v) => (v.properties?.type as SchemaNode).const === type) as SchemaNode, value);
  }
  if (schema.anyOf !== undefined) {
    return finish(schema.anyOf.find((branch) => branch.type === jsonType(value)) as SchemaNode, value);
  }
  if (Array.isArray(value)) return value.map((item) => finish(schema.items as SchemaNode, item));
  if (value === null || jsonType(value) !== 'object') return value;
  const object = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const properties = schema.properties ?? {};
  for (const [key, sub] of Object.entries(properties)) {
    if (Object.hasOwn(object, key)) define(out, key, finish(sub, object[key]));
    else if ('default' in sub) define(out, key, finish(sub, structuredClone(sub.default)));
  }
  const member = Object.values(schema.patternProperties ?? {})[0];
  if (member !== undefined) {
    for (const [key, item] of Object.entries(object)) define(out, key, finish(member, item));
  }
  return out;
}

/** JSON Schema's type name of a value of VALID data. */
function jsonType(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
