import t from 'tap';
import { compileTrustedProxies, parseCidr } from '../../../src/pipeline/trusted-proxies.js';

t.test('nobody is trusted by default', async (t) => {
  const trusted = compileTrustedProxies([]);
  t.equal(trusted('127.0.0.1'), false);
  t.equal(trusted('::1'), false);
});

t.test('CIDR ranges and bare addresses, IPv4-mapped IPv6 included', async (t) => {
  const trusted = compileTrustedProxies(['10.0.0.0/8', '::1', '192.168.1.5', '2001:db8::/32']);
  t.equal(trusted('10.1.2.3'), true);
  t.equal(trusted('10.1.2.3'), true, 'cached answer');
  t.equal(trusted('::ffff:10.1.2.3'), true);
  t.equal(trusted('11.0.0.1'), false);
  t.equal(trusted('::1'), true);
  t.equal(trusted('192.168.1.5'), true);
  t.equal(trusted('192.168.1.6'), false);
  t.equal(trusted('2001:db8:1::9'), true);
  t.equal(trusted('2001:db9::1'), false);
  t.equal(trusted('not-an-ip'), false);
  t.equal(trusted('2130706433'), false, 'no lenient numeric forms');
});

t.test('parseCidr refuses garbage', async (t) => {
  t.equal(parseCidr('10.0.0.0/33'), undefined);
  t.equal(parseCidr('x/8'), undefined);
  t.equal(parseCidr('10'), undefined);
  t.equal(parseCidr('example.com'), undefined);
  t.same(parseCidr('10.0.0.1')?.[1], 32);
  t.same(parseCidr('::1')?.[1], 128);
});

t.test('the cache stays bounded under many client-chosen addresses', async (t) => {
  const trusted = compileTrustedProxies(['10.0.0.0/8']);
  for (let i = 0; i < 3000; i++) trusted(`172.16.${i >> 8}.${i & 255}`);
  t.equal(trusted('10.9.9.9'), true);
});
