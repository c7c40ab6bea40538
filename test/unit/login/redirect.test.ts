import t from 'tap';
import { MAX_REDIRECT_LENGTH, safeRedirect } from '../../../src/login/redirect.js';

// The operator's allowedRedirectHosts: one with a port, one IDN (punycode), one IPv6
// literal, one written in mixed case with the default port.
const HOSTS = ['app.example.com', 'docs.example.com:8443', 'xn--bcher-kva.example', '[::1]', 'Mixed.Example.COM:443'];

// Each row is one named assertion: [name, rd, expected].
type Row = readonly [string, string | undefined, string];
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];
const check = (t: TapTest, rows: readonly Row[]): void => {
  for (const [name, rd, expected] of rows) t.equal(safeRedirect(rd, HOSTS), expected, name);
};

t.test('safe relative paths are kept as written', async (t) => {
  check(t, [
    ['root', '/', '/'],
    ['plain path', '/dashboard', '/dashboard'],
    ['path, query and fragment', '/a/b?x=1&y=2#top', '/a/b?x=1&y=2#top'],
    ['an encoded percent sign decodes to a lone %', '/search?q=100%25', '/search?q=100%25'],
    ['UTF-8 percent-encoded path', '/caf%C3%A9', '/caf%C3%A9'],
    ['dot segments that stay below the root', '/a/b/../c', '/a/b/../c'],
    ['a URL inside the query stays on our origin', '/?next=https://evil.example', '/?next=https://evil.example'],
    ['colon after the first segment', '/wiki/Special:Search', '/wiki/Special:Search'],
    ['a path that merely starts like ours', '/.gatehouse-docs/x', '/.gatehouse-docs/x'],
    ['exactly the maximum length', '/' + 'a'.repeat(MAX_REDIRECT_LENGTH - 1), '/' + 'a'.repeat(MAX_REDIRECT_LENGTH - 1)],
    ['encoded twice, still harmless', '/search?q=%2525', '/search?q=%2525'],
  ]);
});

t.test('absolute https URLs on allowed hosts are kept, normalized', async (t) => {
  check(t, [
    ['allowed host with path and query', 'https://app.example.com/x?y=1', 'https://app.example.com/x?y=1'],
    ['allowed host without path', 'https://app.example.com', 'https://app.example.com/'],
    ['query right after the host', 'https://app.example.com?x=1', 'https://app.example.com/?x=1'],
    ['fragment with @ stays a fragment', 'https://app.example.com#@evil.example', 'https://app.example.com/#@evil.example'],
    ['mixed-case scheme and host', 'HtTpS://APP.Example.com/x', 'https://app.example.com/x'],
    ['default port 443 removed', 'https://app.example.com:443/x', 'https://app.example.com/x'],
    ['listed port', 'https://docs.example.com:8443/guide', 'https://docs.example.com:8443/guide'],
    ['list entry in mixed case with :443', 'https://mixed.example.com/', 'https://mixed.example.com/'],
    ['IDN host in its punycode form', 'https://xn--bcher-kva.example/buch', 'https://xn--bcher-kva.example/buch'],
    ['listed IPv6 literal', 'https://[::1]/x', 'https://[::1]/x'],
    ['IPv6 literal in a longer spelling of the listed one', 'https://[0:0::1]/x', 'https://[::1]/x'],
  ]);
});

t.test('absent, empty and over-long values', async (t) => {
  check(t, [
    ['undefined', undefined, '/'],
    ['empty', '', '/'],
    ['over the maximum length', '/' + 'a'.repeat(MAX_REDIRECT_LENGTH), '/'],
    ['over-long absolute URL', 'https://app.example.com/' + 'a'.repeat(MAX_REDIRECT_LENGTH), '/'],
  ]);
});

t.test('network-path references (//host) in every spelling', async (t) => {
  check(t, [
    ['//evil', '//evil.example', '/'],
    ['//evil with path', '//evil.example/x', '/'],
    ['///evil', '///evil.example', '/'],
    ['/\\evil', '/\\evil.example', '/'],
    ['\\/evil', '\\/evil.example', '/'],
    ['\\\\evil', '\\\\evil.example', '/'],
    ['backslash later in the path', '/a\\b', '/'],
    ['/..//evil resolves to //evil', '/..//evil.example', '/'],
    ['/a/..//evil resolves to //evil', '/a/..//evil.example', '/'],
    ['/%2e%2e//evil resolves to //evil', '/%2e%2e//evil.example', '/'],
  ]);
});

t.test('percent-encoded slashes and backslashes are checked after decoding', async (t) => {
  check(t, [
    ['%2F%2Fevil (no leading slash)', '%2F%2Fevil.example', '/'],
    ['/%2F/evil', '/%2F/evil.example', '/'],
    ['/%2Fevil', '/%2Fevil.example', '/'],
    ['/%2f%2fevil lower-case hex', '/%2f%2fevil.example', '/'],
    ['/%5Cevil', '/%5Cevil.example', '/'],
    ['/%5cevil lower-case hex', '/%5cevil.example', '/'],
    ['/%5C%5Cevil', '/%5C%5Cevil.example', '/'],
    ['%5C in the query', '/a?b=%5C', '/'],
    ['%252F%252F (double-encoded, no leading slash)', '%252F%252Fevil.example', '/'],
    ['/%252F/evil (double-encoded)', '/%252F/evil.example', '/'],
    ['/%25252F/evil (triple-encoded)', '/%25252F/evil.example', '/'],
    ['/%255C (double-encoded backslash)', '/%255Cevil.example', '/'],
    ['encoded past the decoding bound', '/%2525252525252Fx', '/'],
    ['encoded // in the path of an allowed absolute URL', 'https://app.example.com/%2F%2Fevil.example', '/'],
    ['// path on an allowed absolute URL', 'https://app.example.com//evil.example', '/'],
  ]);
});

t.test('schemes other than https, and https without //', async (t) => {
  check(t, [
    ['https:evil (no slashes)', 'https:evil.example', '/'],
    ['https:/evil (one slash)', 'https:/evil.example', '/'],
    ['http://allowed (not https)', 'http://app.example.com/', '/'],
    ['HtTp://allowed mixed case, not https', 'HtTp://app.example.com/', '/'],
    ['javascript:', 'javascript:alert(1)', '/'],
    ['JaVaScRiPt: mixed case', 'JaVaScRiPt:alert(1)', '/'],
    ['javascript: with //', 'javascript://app.example.com/%0aalert(1)', '/'],
    ['data:', 'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==', '/'],
    ['DATA: mixed case', 'DaTa:text/html,<script>alert(1)</script>', '/'],
    ['vbscript:', 'vbscript:msgbox(1)', '/'],
    ['ftp://allowed', 'ftp://app.example.com/', '/'],
    ['scheme as the first path segment', '/javascript:alert(1)', '/'],
    ['encoded scheme as the first path segment', '/%6Aavascript:alert(1)', '/'],
    ['https: as the first path segment', '/https:evil.example', '/'],
    ['scheme after an encoded slash', '/%2Fjavascript:alert(1)', '/'],
  ]);
});

t.test('hosts that are not (exactly) allowed', async (t) => {
  check(t, [
    ['https://allowed@evil (userinfo)', 'https://app.example.com@evil.example/', '/'],
    ['https://user:pass@allowed (userinfo on an allowed host)', 'https://user:pass@app.example.com/', '/'],
    ['https://allowed:443@evil', 'https://app.example.com:443@evil.example/', '/'],
    ['https://allowed\\@evil (backslash before @)', 'https://app.example.com\\@evil.example/', '/'],
    ['https://evil?x=allowed', 'https://evil.example?x=app.example.com', '/'],
    ['https://evil/allowed', 'https://evil.example/app.example.com', '/'],
    ['https://evil#allowed', 'https://evil.example#app.example.com', '/'],
    ['allowed as a subdomain of evil', 'https://app.example.com.evil.example/', '/'],
    ['allowed as a suffix of evil', 'https://evilapp.example.com/', '/'],
    ['trailing dot', 'https://app.example.com./', '/'],
    ['percent-encoded host', 'https://%61pp.example.com/', '/'],
    ['numeric IPv4 shorthand', 'https://0x7f.1/', '/'],
  ]);
});

t.test('ports are compared exactly', async (t) => {
  check(t, [
    ['unlisted port on an allowed host', 'https://app.example.com:8443/', '/'],
    ['listed host without its port', 'https://docs.example.com/', '/'],
    ['listed host on another port', 'https://docs.example.com:9443/', '/'],
    ['port out of range', 'https://app.example.com:99999/', '/'],
    ['empty port', 'https://app.example.com:/x', '/'],
    ['non-numeric port', 'https://app.example.com:https/x', '/'],
  ]);
});

t.test('IPv6 literals', async (t) => {
  check(t, [
    ['unlisted IPv6 literal', 'https://[::2]/', '/'],
    ['listed IPv6 literal on another port', 'https://[::1]:8443/', '/'],
    ['IPv4-mapped IPv6', 'https://[::ffff:127.0.0.1]/', '/'],
    ['IPv6 with a zone id', 'https://[::1%25eth0]/', '/'],
    ['malformed IPv6', 'https://[::1::2]/', '/'],
    ['unclosed bracket', 'https://[::1/', '/'],
  ]);
});

t.test('whitespace and control characters, raw or encoded', async (t) => {
  check(t, [
    ['leading space', ' /dashboard', '/'],
    ['leading space before //', ' //evil.example', '/'],
    ['leading tab', '\t/dashboard', '/'],
    ['leading newline before //', '\n//evil.example', '/'],
    ['leading NUL', '\x00/dashboard', '/'],
    ['leading DEL', '\x7f/dashboard', '/'],
    ['tab between slashes: /\\t/evil', '/\t/evil.example', '/'],
    ['newline between slashes', '/\n/evil.example', '/'],
    ['carriage return between slashes', '/\r/evil.example', '/'],
    ['CRLF header injection', '/x\r\nSet-Cookie: a=b', '/'],
    ['space inside the path', '/a b', '/'],
    ['trailing space', '/dashboard ', '/'],
    ['encoded tab between slashes', '/%09/evil.example', '/'],
    ['encoded CRLF header injection', '/x%0d%0aSet-Cookie:a=b', '/'],
    ['encoded NUL', '/x%00', '/'],
    ['encoded DEL', '/x%7F', '/'],
    ['tab inside an absolute URL', 'https://app.example.com/\t/x', '/'],
    ['encoded newline in an absolute URL', 'https://app.example.com/%0a', '/'],
  ]);
});

t.test('unicode look-alikes and IDN', async (t) => {
  check(t, [
    ['fullwidth solidus after a slash', '/\uFF0Fevil.example', '/'],
    ['two fullwidth solidi', '\uFF0F\uFF0Fevil.example', '/'],
    ['percent-encoded fullwidth solidus (NFKC: //)', '/%EF%BC%8Fevil.example', '/'],
    ['percent-encoded fullwidth reverse solidus (NFKC: /\\)', '/%EF%BC%BCevil.example', '/'],
    ['division slash', '/\u2215evil.example', '/'],
    ['one dot leader in the host', 'https://app\u2024example.com/', '/'],
    ['Cyrillic a in the host', 'https://\u0430pp.example.com/', '/'],
    ['fullwidth letters in the host', 'https://\uFF41pp.example.com/', '/'],
    ['IDN in Unicode form, even though its punycode is listed', 'https://b\u00fccher.example/', '/'],
    ['punycode host that is not listed', 'https://xn--80ak6aa92e.com/', '/'],
    ['listed punycode as a subdomain of evil', 'https://xn--bcher-kva.example.evil.example/', '/'],
    ['non-ASCII in a relative path', '/caf\u00e9', '/'],
    ['zero-width space before //', '\u200B//evil.example', '/'],
    ['right-to-left override', '/\u202Eelpmaxe.live//', '/'],
  ]);
});

t.test('not a path-absolute reference', async (t) => {
  check(t, [
    ['relative path without slash', 'dashboard', '/'],
    ['dot-relative path', './dashboard', '/'],
    ['query only', '?x=1', '/'],
    ['fragment only', '#top', '/'],
    ['host without scheme', 'evil.example', '/'],
  ]);
});

t.test('our own endpoints are refused (no sign-in loops)', async (t) => {
  check(t, [
    ['/.gatehouse/login', '/.gatehouse/login', '/'],
    ['/.gatehouse itself', '/.gatehouse', '/'],
    ['/.gatehouse/logout with query', '/.gatehouse/logout?x=1', '/'],
    ['upper case', '/.GATEHOUSE/login', '/'],
    ['encoded dot', '/%2Egatehouse/login', '/'],
    ['reached through dot segments', '/a/../.gatehouse/login', '/'],
    ['on an allowed absolute URL', 'https://app.example.com/.gatehouse/login/corp', '/'],
  ]);
});
