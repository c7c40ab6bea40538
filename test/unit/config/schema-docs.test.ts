// The JSON Schema feeds `gatehouse schema`, editors and the docs: every key must say
// what it is for, and the schema must be strict and self-consistent.
import { Ajv } from 'ajv';
import t from 'tap';
import { configJsonSchema } from '../../../src/config/load.js';
import { CONFIG_FORMATS, Expect, GatehouseConfigSchema, Messages } from '../../../src/config/schema.js';

type Node = Record<string | symbol, unknown>;

/** Every subschema with the JSON path that leads to it. */
function* walk(node: unknown, where: string): Generator<[string, Node]> {
  if (typeof node !== 'object' || node === null) return;
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) yield* walk(item, `${where}[${i}]`);
    return;
  }
  const schema = node as Node;
  yield [where, schema];
  for (const key of ['properties', 'patternProperties']) {
    for (const [name, sub] of Object.entries((schema[key] ?? {}) as Record<string, unknown>)) yield* walk(sub, `${where}.${key}.${name}`);
  }
  for (const key of ['items', 'anyOf', 'oneOf', 'propertyNames', 'not']) yield* walk(schema[key], `${where}.${key}`);
}

const printed = configJsonSchema();

t.test('every property in the JSON Schema has a description', async (t) => {
  let count = 0;
  for (const [where, schema] of walk(printed, '#')) {
    for (const key of ['properties', 'patternProperties']) {
      for (const [name, sub] of Object.entries((schema[key] ?? {}) as Record<string, Node>)) {
        count++;
        t.ok(typeof sub.description === 'string' && (sub.description as string).length > 10, `${where}.${key}.${name}`);
      }
    }
  }
  t.ok(count >= 75, `${count} properties checked`);
  t.ok(typeof (printed as Node).description === 'string');
});

t.test('every object is closed', async (t) => {
  for (const [where, schema] of walk(printed, '#')) {
    if (schema.properties !== undefined) t.equal(schema.additionalProperties, false, where);
  }
});

t.test('every minLength and minItems is 1 (the loader words them "must not be empty")', async (t) => {
  for (const [where, schema] of walk(printed, '#')) {
    for (const key of ['minLength', 'minItems']) if (key in schema) t.equal(schema[key], 1, `${where}.${key}`);
  }
});

t.test('every pattern, format and union has words for its error message', async (t) => {
  for (const [where, schema] of walk(GatehouseConfigSchema, '#')) {
    if ('pattern' in schema || 'format' in schema || 'anyOf' in schema) {
      t.equal(typeof schema[Expect], 'string', where);
    }
    if ('not' in schema) t.equal(typeof (schema[Messages] as Node | undefined)?.not, 'string', where);
  }
});

t.test('the schema uses only keywords the loader has words for (load.ts keywordMessage)', async (t) => {
  const known = new Set([
    // structure and annotations
    'type', 'properties', 'patternProperties', 'additionalProperties', 'required', 'items',
    'propertyNames', 'anyOf', 'oneOf', 'discriminator', 'default', 'description', 'title',
    // checks worded by the loader, or carrying Expect/Messages text
    'pattern', 'format', 'minimum', 'minLength', 'minItems', 'enum', 'const', 'not',
  ]);
  for (const [where, schema] of walk(GatehouseConfigSchema, '#')) {
    for (const key of Object.keys(schema)) t.ok(known.has(key), `${where}: ${key}`);
  }
});

t.test('every default is valid for its key', async (t) => {
  const ajv = new Ajv({ strict: false, discriminator: true });
  for (const [name, format] of Object.entries(CONFIG_FORMATS)) ajv.addFormat(name, format as Parameters<Ajv['addFormat']>[1]);
  let count = 0;
  for (const [where, schema] of walk(GatehouseConfigSchema, '#')) {
    if ('default' in schema) {
      count++;
      const { default: value, ...rest } = schema;
      t.ok(ajv.validate(rest, value), `${where}: ${JSON.stringify(value)}`);
    }
  }
  t.ok(count >= 30, `${count} defaults checked`);
});

t.test('the printed schema is plain JSON with reference-tolerant patterns', async (t) => {
  const text = JSON.stringify(printed);
  t.notOk(text.includes('"[object'), 'no stray objects');
  const listen = (printed as { properties: Record<string, Node> }).properties.listen!;
  t.same(listen, {
    default: '127.0.0.1:8080',
    description: 'host:port the proxy listens on.',
    format: 'host-port',
    type: 'string',
  });
  const name = ((printed as { properties: Record<string, Node> }).properties.routes!.items as { properties: Record<string, Node> }).properties.name!;
  const pattern = new RegExp(name.pattern as string, 'u');
  t.ok(pattern.test('api'));
  t.ok(pattern.test('${env:ROUTE_NAME}'), 'an editor sees values before substitution');
  t.notOk(pattern.test('-api'));
  const auth = (printed as { properties: Record<string, Node> }).properties.authenticators!;
  t.same(auth.propertyNames, {
    pattern: '^[A-Za-z][A-Za-z0-9_-]*$',
    not: { enum: ['anonymous', 'deny'] },
  }, 'key patterns stay strict: keys are never substituted');
});
