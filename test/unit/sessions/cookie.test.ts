import t from 'tap';
import { clearCookie, helperCookieName, readCookie, removeCookies, serializeCookie, type CookieSettings } from '../../../src/sessions/cookie.js';

const NAME = '__Host-gatehouse';
const settings: CookieSettings = { name: NAME, secure: true, sameSite: 'lax' };

t.test('readCookie: absent', async (t) => {
  t.same(readCookie([], NAME), { kind: 'absent' });
  t.same(readCookie(['Host', 'x', 'Accept', 'text/html'], NAME), { kind: 'absent' }, 'no Cookie header');
  t.same(readCookie(['Cookie', 'a=1; b=2'], NAME), { kind: 'absent' }, 'other cookies only');
  t.same(readCookie(['Cookie', '__host-gatehouse=v'], NAME), { kind: 'absent' }, 'the name is case-sensitive (RFC 6265 §5.4)');
  t.same(readCookie(['Cookie', `${NAME}x=v; x${NAME}=v`], NAME), { kind: 'absent' }, 'no prefix or suffix match');
  t.same(readCookie(['Cookie', NAME], NAME), { kind: 'absent' }, 'a piece without = is a nameless cookie');
  t.same(readCookie(['X-Cookie', `${NAME}=v`], NAME), { kind: 'absent' }, 'only Cookie headers');
  t.same(readCookie(['Cookie'], NAME), { kind: 'absent' }, 'odd-length list: the dangling name is ignored');
});

t.test('readCookie: one value, any header case, whitespace trimmed, value verbatim', async (t) => {
  t.same(readCookie(['Cookie', `${NAME}=abc.def`], NAME), { kind: 'one', value: 'abc.def' });
  t.same(readCookie(['cOOKIE', `a=1;${NAME}=v1;b=2`], NAME), { kind: 'one', value: 'v1' });
  t.same(readCookie(['cookie', `a=1;  \t${NAME} = v1 \t; b=2`], NAME), { kind: 'one', value: 'v1' });
  t.same(readCookie(['Cookie', `${NAME}=`], NAME), { kind: 'one', value: '' }, 'empty value');
  t.same(readCookie(['Cookie', `${NAME}=a=b%20"c"`], NAME), { kind: 'one', value: 'a=b%20"c"' }, 'no decoding, first = splits');
  t.same(readCookie(['Cookie', 'a=1', 'Accept', '*/*', 'Cookie', `${NAME}=v`], NAME), { kind: 'one', value: 'v' }, 'in a later header');
});

t.test('readCookie: two cookies of our name anywhere are ambiguous', async (t) => {
  t.same(readCookie(['Cookie', `${NAME}=a; ${NAME}=b`], NAME), { kind: 'ambiguous' });
  t.same(readCookie(['Cookie', `${NAME}=a; ${NAME}=a`], NAME), { kind: 'ambiguous' }, 'even with equal values');
  t.same(readCookie(['Cookie', `${NAME}=a`, 'COOKIE', `x=1; ${NAME}=b`], NAME), { kind: 'ambiguous' }, 'across headers (HTTP/2 style)');
  t.same(readCookie(['Cookie', `${NAME}=`, 'Cookie', `${NAME}=`], NAME), { kind: 'ambiguous' }, 'empty values count');
});

t.test('removeCookies', async (t) => {
  const ours = new Set([NAME, `${NAME}-csrf`]);
  t.equal(removeCookies(`a=1; ${NAME}=x; b=2`, ours), 'a=1; b=2');
  t.equal(removeCookies(`${NAME}=x;${NAME}-csrf=y`, ours), undefined, 'nothing left');
  t.equal(removeCookies(`  a=1 ;;  ${NAME} =x;  flag ; b = 2 `, ours), 'a=1; flag; b = 2', 'nameless pieces kept, empty ones dropped');
  t.equal(removeCookies('', ours), undefined);
  t.equal(removeCookies(`${NAME.toLowerCase()}=x`, ours), `${NAME.toLowerCase()}=x`, 'case-sensitive: not ours');
  t.equal(removeCookies(`${NAME}-tx=1`, ours), `${NAME}-tx=1`, 'only the names given');
});

t.test('serializeCookie: attributes', async (t) => {
  t.equal(
    serializeCookie(settings, NAME, 'id.sig+/x', { maxAgeSec: 43_200 }),
    '__Host-gatehouse=id.sig+/x; Max-Age=43200; Path=/; HttpOnly; Secure; SameSite=Lax',
  );
  t.equal(
    serializeCookie({ name: 'gh', secure: false, sameSite: 'strict', domain: 'example.com' }, 'gh', 'v', { maxAgeSec: 0 }),
    'gh=v; Max-Age=0; Path=/; Domain=example.com; HttpOnly; SameSite=Strict',
    'no Secure when secure is false; Domain when set',
  );
  t.equal(
    serializeCookie(settings, `${NAME}-tx`, 'v', { maxAgeSec: 600, sameSite: 'lax' }),
    '__Host-gatehouse-tx=v; Max-Age=600; Path=/; HttpOnly; Secure; SameSite=Lax',
  );
  t.equal(
    serializeCookie({ ...settings, sameSite: 'none' }, NAME, 'v', { maxAgeSec: 1 }),
    '__Host-gatehouse=v; Max-Age=1; Path=/; HttpOnly; Secure; SameSite=None',
  );
  t.equal(
    serializeCookie({ ...settings, sameSite: 'strict' }, NAME, 'v', { maxAgeSec: 1, sameSite: 'lax' }),
    '__Host-gatehouse=v; Max-Age=1; Path=/; HttpOnly; Secure; SameSite=Lax',
    'options.sameSite overrides',
  );
  t.equal(
    serializeCookie({ ...settings, domain: '.sub-1.example.com' }, 'n', 'v', { maxAgeSec: 1 }),
    'n=v; Max-Age=1; Path=/; Domain=.sub-1.example.com; HttpOnly; Secure; SameSite=Lax',
  );
});

t.test('serializeCookie: nothing can inject an attribute', async (t) => {
  t.throws(() => serializeCookie(settings, NAME, 'a; Domain=evil.com', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie(settings, NAME, 'a,b', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie(settings, NAME, 'a b', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie(settings, NAME, '"q"', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie(settings, NAME, 'a\\b', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie(settings, NAME, 'é', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie(settings, 'a=b', 'v', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie(settings, 'a;b', 'v', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie(settings, '', 'v', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie({ ...settings, domain: 'a.com; Secure' }, 'n', 'v', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie({ ...settings, domain: 'a..com' }, 'n', 'v', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie({ ...settings, domain: '-a.com' }, 'n', 'v', { maxAgeSec: 1 }), TypeError);
  t.throws(() => serializeCookie(settings, NAME, 'v', { maxAgeSec: -1 }), RangeError);
  t.throws(() => serializeCookie(settings, NAME, 'v', { maxAgeSec: 1.5 }), RangeError);
  t.throws(() => serializeCookie(settings, NAME, 'v', { maxAgeSec: Number.NaN }), RangeError);
});

t.test('clearCookie: same Path and Domain, expired', async (t) => {
  t.equal(clearCookie(settings, NAME), '__Host-gatehouse=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax');
  t.equal(
    clearCookie({ name: 'gh', secure: false, sameSite: 'strict', domain: 'example.com' }, 'gh-csrf'),
    'gh-csrf=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Domain=example.com; HttpOnly; SameSite=Strict',
  );
  t.throws(() => clearCookie(settings, 'bad name'), TypeError);
});

t.test('helperCookieName', async (t) => {
  t.equal(helperCookieName(settings, 'csrf'), '__Host-gatehouse-csrf');
  t.equal(helperCookieName(settings, 'tx'), '__Host-gatehouse-tx');
  t.equal(helperCookieName({ ...settings, name: 'gh' }, 'tx'), 'gh-tx');
});
