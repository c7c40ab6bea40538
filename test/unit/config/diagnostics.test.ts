import t from 'tap';
import { ConfigError, formatDiagnostic, formatKeyPath, type Diagnostic } from '../../../src/config/diagnostics.js';

t.test('formatKeyPath: bare identifiers after dots, indexes in brackets, anything else quoted', async (t) => {
  t.equal(formatKeyPath([]), '');
  t.equal(formatKeyPath(['listen']), 'listen');
  t.equal(formatKeyPath(['routes', 2, 'headers', 'X-Tenant']), 'routes[2].headers.X-Tenant');
  t.equal(formatKeyPath(['routes', 2, 'headers', 'X Y']), 'routes[2].headers["X Y"]');
  t.equal(formatKeyPath(['allow', 'claims', 'realm_access.roles']), 'allow.claims["realm_access.roles"]');
  t.equal(formatKeyPath(['authenticators', '_private', 'users', 0, 'name']), 'authenticators._private.users[0].name');
  t.equal(formatKeyPath([0, 'a']), '[0].a');
  t.equal(formatKeyPath(['1']), '["1"]', 'a key that looks like an index stays a key');
  t.equal(formatKeyPath(['-x']), '["-x"]');
  t.equal(formatKeyPath(['']), '[""]');
  t.equal(formatKeyPath(['a', 'say "hi"']), 'a["say \\"hi\\""]');
  t.equal(formatKeyPath(['a', 'esc\u001b[2J']), 'a["esc\\u001b[2J"]', 'control characters never reach a terminal');
});

const d: Diagnostic = { file: 'config/gatehouse.yaml', line: 14, column: 9, keyPath: 'routes[2].headers', message: 'unknown variable' };

t.test('formatDiagnostic: file:line:column keyPath: message; no key path, no colon', async (t) => {
  t.equal(formatDiagnostic(d), 'config/gatehouse.yaml:14:9 routes[2].headers: unknown variable');
  t.equal(formatDiagnostic({ ...d, keyPath: '', message: 'Map keys must be unique' }), 'config/gatehouse.yaml:14:9 Map keys must be unique');
});

t.test('ConfigError lists every diagnostic, one per line', async (t) => {
  const second = { ...d, line: 20, column: 3, keyPath: 'listen', message: 'must be host:port' };
  const err = new ConfigError([d, second]);
  t.ok(err instanceof Error);
  t.equal(err.name, 'ConfigError');
  t.equal(err.message, 'config/gatehouse.yaml:14:9 routes[2].headers: unknown variable\nconfig/gatehouse.yaml:20:3 listen: must be host:port');
  t.same(err.diagnostics, [d, second]);
  t.ok(Object.isFrozen(err.diagnostics));
});

t.test('ConfigError keeps its own copy of the list', async (t) => {
  const list = [d];
  const err = new ConfigError(list);
  list.push({ ...d, line: 1 });
  t.equal(err.diagnostics.length, 1);
});
