import t from 'tap';
import { compileAllow } from '../../../src/pipeline/authorize/allow.js';
import type { Identity } from '../../../src/pipeline/types.js';

const alice: Identity = {
  user: 'alice',
  email: 'Alice@Example.COM',
  groups: ['staff', 'admin'],
  scopes: ['orders:read'],
  claims: { tenant: 'acme', roles: ['a', 'b'], level: 3, active: true, nested: { x: 'y' } },
  method: 'basic',
  authenticator: 'staff',
};

t.test('no allow: any identity passes', async (t) => {
  t.same(compileAllow(undefined)(alice), { allow: true });
  t.same(compileAllow({})(alice), { allow: true });
});

t.test('each key: OR within the list', async (t) => {
  t.same(compileAllow({ users: ['bob', 'alice'] })(alice), { allow: true });
  t.same(compileAllow({ users: ['bob'] })(alice), { allow: false, reasons: ['user-not-allowed'] });
  t.same(compileAllow({ users: ['bob'] })({ ...alice, user: undefined }), { allow: false, reasons: ['user-not-allowed'] });
  t.same(compileAllow({ groups: ['ops', 'admin'] })(alice), { allow: true });
  t.same(compileAllow({ groups: ['ops'] })(alice), { allow: false, reasons: ['groups-missing'] });
  t.same(compileAllow({ emails: ['alice@example.com'] })(alice), { allow: true });
  t.same(compileAllow({ emails: ['bob@example.com'] })(alice), { allow: false, reasons: ['email-not-allowed'] });
  t.same(compileAllow({ emails: ['a@b'] })({ ...alice, email: undefined }), { allow: false, reasons: ['email-not-allowed'] });
  t.same(compileAllow({ emailDomains: ['example.com'] })(alice), { allow: true });
  t.same(compileAllow({ emailDomains: ['@EXAMPLE.com'] })(alice), { allow: true });
  t.same(compileAllow({ emailDomains: ['sub.example.com'] })(alice), { allow: false, reasons: ['email-domain-not-allowed'] });
  t.same(compileAllow({ emailDomains: ['example.com'] })({ ...alice, email: 'x@evil.com@example.com.evil' }), { allow: false, reasons: ['email-domain-not-allowed'] });
  t.same(compileAllow({ emailDomains: ['example.com'] })({ ...alice, email: undefined }), { allow: false, reasons: ['email-domain-not-allowed'] });
  t.same(compileAllow({ scopes: ['orders:read'] })(alice), { allow: true });
  t.same(compileAllow({ scopes: ['orders:write'] })(alice), { allow: false, reasons: ['scopes-missing'] });
});

t.test('claims: value or list, arrays match any element, types compared as text', async (t) => {
  t.same(compileAllow({ claims: { tenant: 'acme' } })(alice), { allow: true });
  t.same(compileAllow({ claims: { tenant: ['x', 'acme'] } })(alice), { allow: true });
  t.same(compileAllow({ claims: { roles: 'b' } })(alice), { allow: true });
  t.same(compileAllow({ claims: { level: 3 } })(alice), { allow: true });
  t.same(compileAllow({ claims: { level: '3' } })(alice), { allow: true });
  t.same(compileAllow({ claims: { active: true } })(alice), { allow: true });
  t.same(compileAllow({ claims: { 'nested.x': 'y' } })(alice), { allow: true });
  t.same(compileAllow({ claims: { nested: 'y' } })(alice), { allow: false, reasons: ['claim-mismatch:nested'] });
  t.same(compileAllow({ claims: { tenant: 'other' } })(alice), { allow: false, reasons: ['claim-mismatch:tenant'] });
  t.same(compileAllow({ claims: { missing: 'x' } })(alice), { allow: false, reasons: ['claim-mismatch:missing'] });
});

t.test('AND across keys, every failed condition reported', async (t) => {
  const allow = compileAllow({ users: ['alice'], groups: ['ops'], scopes: ['x'], claims: { tenant: 'acme' } });
  t.same(allow(alice), { allow: false, reasons: ['groups-missing', 'scopes-missing'] });
});
