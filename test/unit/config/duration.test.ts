import t from 'tap';
import { DURATION_PATTERN, parseDuration } from '../../../src/config/duration.js';

t.test('units', async (t) => {
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('30s'), 30_000);
  t.equal(parseDuration('5m'), 300_000);
  t.equal(parseDuration('12h'), 43_200_000);
  t.equal(parseDuration('7d'), 604_800_000);
  t.equal(parseDuration('1.5h'), 5_400_000);
  t.equal(parseDuration('0s'), 0);
});

t.test('a bare number, or a numeric string, is seconds', async (t) => {
  t.equal(parseDuration(30), 30_000);
  t.equal(parseDuration(0.25), 250);
  t.equal(parseDuration(0), 0);
  t.equal(parseDuration('30'), 30_000);
  t.equal(parseDuration('2.5'), 2_500);
});

t.test('rounds to a whole millisecond and never yields -0', async (t) => {
  t.equal(parseDuration('1.5ms'), 2);
  t.equal(parseDuration('0.4ms'), 0);
  t.equal(parseDuration(0.0004), 0);
  t.ok(Object.is(parseDuration(-0), 0));
});

t.test('rejects what is not a duration', async (t) => {
  for (const bad of ['', ' 30s', '30s ', '30 s', '-5s', '+5s', '5w', '1h30m', '5S', '.5s', '5.s', 'ms', '1e3s', 'Infinitys', '0x10']) {
    t.equal(parseDuration(bad), undefined, JSON.stringify(bad));
  }
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    t.equal(parseDuration(bad), undefined, String(bad));
  }
  t.equal(parseDuration(`${'9'.repeat(400)}d`), undefined, 'overflows to Infinity');
});

t.test('DURATION_PATTERN accepts exactly the strings parseDuration accepts', async (t) => {
  const pattern = new RegExp(DURATION_PATTERN, 'u');
  for (const s of ['250ms', '30s', '5m', '12h', '7d', '1.5h', '30', '0', '30 s', '-5s', '5w', '.5s', '1h30m', '']) {
    t.equal(pattern.test(s), parseDuration(s) !== undefined, JSON.stringify(s));
  }
});
