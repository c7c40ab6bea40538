import t from 'tap';
import { encodeIdentityList, encodeIdentityValue } from '../../../src/pipeline/headers/encode.js';

t.test('plain ASCII passes unchanged', async (t) => {
  t.equal(encodeIdentityValue('alice@example.com'), 'alice@example.com');
  t.equal(encodeIdentityValue('Alice Smith (ops)'), 'Alice Smith (ops)');
});

t.test('percent, comma, controls and non-ASCII are escaped', async (t) => {
  t.equal(encodeIdentityValue('50%'), '50%25');
  t.equal(encodeIdentityValue('staff,admin'), 'staff%2Cadmin');
  t.equal(encodeIdentityValue('a\r\nX-Auth-User: root'), 'a%0D%0AX-Auth-User: root');
  t.equal(encodeIdentityValue('tab\there'), 'tab%09here');
  t.equal(encodeIdentityValue('del\x7f'), 'del%7F');
  t.equal(encodeIdentityValue('José'), 'Jos%C3%A9');
  t.equal(encodeIdentityValue('😀'), '%F0%9F%98%80');
});

t.test('every output byte is printable ASCII and never a raw comma', async (t) => {
  for (let c = 0; c < 0x3000; c += 7) {
    const out = encodeIdentityValue(`x${String.fromCharCode(c)}y`);
    t.ok(/^[\x20-\x7e]*$/.test(out) && !out.includes(','), `char ${c}`);
  }
});

t.test('a list keeps each element as one value', async (t) => {
  t.equal(encodeIdentityList(['staff,admin', 'ops']), 'staff%2Cadmin,ops');
  t.equal(encodeIdentityList([]), '');
});
