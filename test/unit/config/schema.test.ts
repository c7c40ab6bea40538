import { join } from 'node:path';
import { Ajv } from 'ajv';
import t from 'tap';
import { loadConfigFile } from '../../../src/config/load.js';
import {
  AUTHENTICATOR_TYPES,
  CONFIG_FORMATS,
  GatehouseLoadedConfigSchema,
  MAX_DURATION_MS,
  RESERVED_AUTHENTICATOR_NAMES,
  type AdminConfig,
  type BasicAuthenticatorConfig,
  type BasicAuthenticatorInput,
  type GatehouseConfig,
  type GatehouseConfigInput,
  type RouteConfig,
  type RouteInput,
} from '../../../src/config/schema.js';

const fixtures = new URL('../../fixtures/config/', import.meta.url).pathname;

function accepts(format: keyof typeof CONFIG_FORMATS, value: string | number): boolean {
  return (CONFIG_FORMATS[format].validate as (v: string | number) => boolean)(value);
}

t.test('host-port', async (t) => {
  for (const ok of ['127.0.0.1:8080', '0.0.0.0:0', 'localhost:65535', '[::1]:9090', '[::]:80', 'my_host.internal:80', 'gatehouse:8080', 'a-b.example.com:1', '[fe80::1%eth0]:8080']) {
    t.ok(accepts('host-port', ok), ok);
  }
  for (const bad of ['8080', ':8080', '127.0.0.1', '127.0.0.1:65536', '127.0.0.1:123456', '999.1.1.1:80', '1.2.3:80', '[1.2.3.4]:80', 'host name:80', '-host:80', 'host-:80', 'a..b:80', 'http://a:80', '[::1]', 'a:-1', 'a:8o']) {
    t.notOk(accepts('host-port', bad), bad);
  }
});

t.test('ip-or-cidr', async (t) => {
  for (const ok of ['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8', '0.0.0.0/0', '::/0', '::ffff:1.2.3.4', '10.0.0.1/32', '::/128']) {
    t.ok(accepts('ip-or-cidr', ok), ok);
  }
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', 'fe80::1%eth0', 'fe80::1%eth0/64', '10.0.0', '127.1', '0x7f.0.0.1', 'localhost', '10.0.0.0/8/8', '', '1.2.3.4 ', '1.2.3.4/1000']) {
    t.notOk(accepts('ip-or-cidr', bad), bad);
  }
});

t.test('http-url and upstream', async (t) => {
  for (const ok of ['https://app.example.com', 'http://127.0.0.1:9000', 'https://a.example/base/path', 'HTTPS://A.EXAMPLE', 'http://[::1]:9002']) {
    t.ok(accepts('http-url', ok), ok);
    t.ok(accepts('upstream', ok), ok);
  }
  for (const bad of ['ftp://x', 'https://', 'https://user:pw@x', 'https://user@x', 'https://:pw@x', 'https://x?', 'https://x/?q=1', 'https://x#f', ' https://x', 'https://x ', 'https://x\\y', 'https://x y', '//x', 'https:/x', 'http://[::1', 'http://a:99999', 'echo']) {
    t.notOk(accepts('http-url', bad), bad);
  }
  t.ok(accepts('upstream', 'echo'));
  t.notOk(accepts('upstream', 'Echo'));
  t.notOk(accepts('upstream', 'ftp://x'));
});

t.test('durations: 1ms to 24d', async (t) => {
  t.equal(MAX_DURATION_MS, 2_073_600_000, 'below the 2^31-1 ms where Node timers overflow');
  for (const ok of ['1ms', '24d', '30s', '30', '0.001']) t.ok(accepts('duration', ok), ok);
  for (const bad of ['0s', '0', '0.4ms', '24.0001d', '25d', 'x']) t.notOk(accepts('duration', bad), bad);
  for (const ok of [1, 0.001, 2_073_600, 30]) t.ok(accepts('duration-seconds', ok), String(ok));
  for (const bad of [0, 0.0004, 2_073_600.001, -1]) t.notOk(accepts('duration-seconds', bad), String(bad));
});

t.test('whole-number', async (t) => {
  for (const ok of [1, 2, 64, 2 ** 53 - 1]) t.ok(accepts('whole-number', ok), String(ok));
  for (const bad of [1.5, 0.1, 2 ** 53, Number.NaN]) t.notOk(accepts('whole-number', bad), String(bad));
});

t.test('constants', async (t) => {
  t.same(AUTHENTICATOR_TYPES, ['basic', 'jwt', 'introspection', 'session']);
  t.same(RESERVED_AUTHENTICATOR_NAMES, ['anonymous', 'deny']);
});

t.test('loaded inputs match the loaded-form schema (the exported types tell the truth)', async (t) => {
  const ajv = new Ajv({ allErrors: true, discriminator: true, strict: false, validateFormats: false });
  const validate = ajv.compile(GatehouseLoadedConfigSchema);
  for (const name of ['valid/minimal.yaml', 'valid/full.yaml']) {
    const { input } = loadConfigFile(join(fixtures, name), {});
    t.ok(validate(input), name);
    t.same(validate.errors, null);
  }
  const required = (GatehouseLoadedConfigSchema as unknown as { required: string[] }).required;
  t.same(required.sort(), ['admin', 'authenticators', 'identity', 'limits', 'listen', 'log', 'routes', 'shutdownTimeout', 'trustedProxies', 'watch', 'workers'], 'defaulted keys are required once loaded');
});

// Compile-time checks (tsc runs over test/): the file form has optional defaulted keys and
// string|number durations; the loaded form has them present, as milliseconds, read-only.
function typeChecks(input: GatehouseConfigInput, loaded: GatehouseConfig): void {
  const durationIn: string | number | undefined = input.limits?.headersTimeout;
  const durationOut: number = loaded.limits.headersTimeout;
  const route: RouteConfig = loaded.routes[0] as RouteConfig;
  const timeout: number = route.timeout;
  const auth: string | readonly string[] = route.auth;
  const routeIn: RouteInput | undefined = input.routes[0];
  const basic: BasicAuthenticatorConfig = loaded.authenticators.x as BasicAuthenticatorConfig;
  const window: number = basic.throttle.window;
  const basicIn: BasicAuthenticatorInput | undefined = input.authenticators?.x as BasicAuthenticatorInput | undefined;
  const admin: AdminConfig = loaded.admin;
  const listen: string | undefined = admin === false ? undefined : admin.listen;
  // @ts-expect-error a defaulted key is optional in the file form
  const listenIn: string = input.listen;
  // @ts-expect-error the loaded form is read-only
  loaded.routes[0]!.name = 'x';
  void [durationIn, durationOut, timeout, auth, routeIn, window, basicIn, listen, listenIn];
}
void typeChecks;
