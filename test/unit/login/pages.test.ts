import { createHash } from 'node:crypto';
import t from 'tap';
import {
  chooserPage,
  contentSecurityPolicy,
  errorPage,
  escapeHtml,
  htmlAnswer,
  logoutPage,
  providerLoginHref,
  redirectPage,
  signedOutPage,
  signInPage,
} from '../../../src/login/pages.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const EVIL = `"><script>alert('x')</script>&`;
const EVIL_ESCAPED = '&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;';

/** Tidy-markup rules every page must follow. */
function checkDocument(t: TapTest, html: string): void {
  t.ok(html.startsWith('<!doctype html>\n<html lang="en">'), 'doctype and lang');
  t.match(html, /<meta charset="utf-8">/);
  t.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
  t.equal(html.match(/<h1>/g)?.length, 1, 'exactly one h1');
  t.notMatch(html, /<script/i, 'no script');
  t.notMatch(html, /\son[a-z]+=/i, 'no inline event handler');
  t.notMatch(html, /\sstyle=/i, 'no style attribute (the CSP hash would block it)');
  t.notMatch(html, /(?:src|href)="(?:https?:)?\/\//i, 'no external asset or absolute link');
  t.equal(html.match(/<style>/g)?.length, 1, 'one stylesheet');
  t.match(html, /:focus-visible\{outline:3px solid/, 'visible focus style');
}

t.test('escapeHtml escapes the five HTML-significant characters', async (t) => {
  t.equal(escapeHtml('&'), '&amp;');
  t.equal(escapeHtml('<'), '&lt;');
  t.equal(escapeHtml('>'), '&gt;');
  t.equal(escapeHtml('"'), '&quot;');
  t.equal(escapeHtml("'"), '&#39;');
  t.equal(escapeHtml(EVIL), EVIL_ESCAPED);
  t.equal(escapeHtml('&amp;'), '&amp;amp;', 'already escaped text is escaped again (no double-decoding)');
  t.equal(escapeHtml('plain text é 😀'), 'plain text é 😀', 'other text unchanged');
  t.equal(escapeHtml(''), '');
});

t.test('htmlAnswer sets the security headers', async (t) => {
  const answer = htmlAnswer(200, '<p>x</p>');
  t.equal(answer.status, 200);
  t.equal(answer.body, '<p>x</p>');
  t.equal(answer.contentType, 'text/html; charset=utf-8');
  t.same(answer.headers, {
    'cache-control': 'no-store',
    'content-security-policy': contentSecurityPolicy(),
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
  });
  t.notOk('reason' in answer);
  t.notOk('user' in answer);
});

t.test('htmlAnswer extra: headers added, reason, user, form targets', async (t) => {
  const answer = htmlAnswer(303, 'b', {
    headers: { location: '/x', 'set-cookie': ['a=1', 'b=2'] },
    reason: 'signed-in',
    user: 'alice',
    formTargets: ['https://docs.example.com'],
  });
  t.equal(answer.status, 303);
  t.equal(answer.headers.location, '/x');
  t.same(answer.headers['set-cookie'], ['a=1', 'b=2']);
  t.equal(answer.headers['x-frame-options'], 'DENY');
  t.match(answer.headers['content-security-policy'], /form-action 'self' https:\/\/docs\.example\.com;/);
  t.equal(answer.reason, 'signed-in');
  t.equal(answer.user, 'alice');
});

t.test('the CSP allows exactly the one stylesheet, by hash', async (t) => {
  const csp = contentSecurityPolicy();
  const html = signedOutPage();
  const style = /<style>([^<]*)<\/style>/.exec(html)![1]!;
  const hash = createHash('sha256').update(style, 'utf8').digest('base64');
  t.equal(
    csp,
    `default-src 'none'; style-src 'sha256-${hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  );
  t.notMatch(csp, /unsafe-inline|unsafe-eval|script-src/);
});

t.test('chooser page lists providers with escaped, encoded links', async (t) => {
  const html = chooserPage({
    providers: [
      { name: 'corp', label: 'Corporate SSO' },
      { name: 'lo cal', label: EVIL },
    ],
    rd: '/a?b=1&c="2"',
  });
  checkDocument(t, html);
  t.match(html, '<h1>Sign in</h1>');
  t.match(html, '<li><a href="/.gatehouse/login/corp?rd=%2Fa%3Fb%3D1%26c%3D%222%22">Corporate SSO</a></li>');
  t.match(html, `<li><a href="/.gatehouse/login/lo%20cal?rd=%2Fa%3Fb%3D1%26c%3D%222%22">${EVIL_ESCAPED}</a></li>`);
  t.notMatch(html, '<script>');
  t.equal(providerLoginHref('a/b', 'https://x.example/?q=1'), '/.gatehouse/login/a%2Fb?rd=https%3A%2F%2Fx.example%2F%3Fq%3D1');
});

t.test('sign-in form: fields, autocomplete, labels, hidden csrf and rd, empty alert slot', async (t) => {
  const html = signInPage({ provider: 'local', label: 'Staff', csrf: 'TOKEN_1', rd: '/next' });
  checkDocument(t, html);
  t.match(html, '<title>Sign in to Staff</title>');
  t.match(html, '<h1>Sign in to Staff</h1>');
  t.match(html, '<div id="error" class="error" role="alert"></div>');
  t.match(html, '<form method="post" action="/.gatehouse/login/local">');
  t.match(html, '<input type="hidden" name="csrf" value="TOKEN_1">');
  t.match(html, '<input type="hidden" name="rd" value="/next">');
  t.match(html, '<label for="username">Username</label>');
  t.match(
    html,
    '<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="256" required value="">',
  );
  t.match(html, '<label for="password">Password</label>');
  t.match(html, '<input id="password" name="password" type="password" autocomplete="current-password" required>');
  t.match(html, '<button type="submit">Sign in</button>');
  t.notMatch(html, 'aria-invalid');
  t.notMatch(html, 'class="detail"');
});

t.test('sign-in form with an error keeps the username, marks fields invalid, shows code and request id', async (t) => {
  const html = signInPage({
    provider: 'local',
    label: 'Staff',
    csrf: 'T',
    rd: '/',
    username: 'alice',
    error: 'The username or password is incorrect.',
    code: 'GATEHOUSE_ERR_X',
    requestId: 'req-1',
  });
  t.match(html, '<div id="error" class="error" role="alert">The username or password is incorrect.</div>');
  t.match(html, 'value="alice" aria-invalid="true" aria-describedby="error">');
  t.match(html, 'autocomplete="current-password" required aria-invalid="true" aria-describedby="error">');
  t.match(html, '<p class="detail">Code: GATEHOUSE_ERR_X · Request ID: req-1</p>');
});

t.test('sign-in form escapes every value', async (t) => {
  const html = signInPage({ provider: 'a"b', label: EVIL, csrf: EVIL, rd: EVIL, username: EVIL, error: EVIL, requestId: EVIL });
  t.notMatch(html, '<script>');
  t.match(html, `<h1>Sign in to ${EVIL_ESCAPED}</h1>`);
  t.match(html, `name="csrf" value="${EVIL_ESCAPED}"`);
  t.match(html, `name="rd" value="${EVIL_ESCAPED}"`);
  t.match(html, `required value="${EVIL_ESCAPED}"`);
  t.match(html, `role="alert">${EVIL_ESCAPED}</div>`);
  t.match(html, `<p class="detail">Request ID: ${EVIL_ESCAPED}</p>`);
  t.match(html, 'action="/.gatehouse/login/a%22b"');
});

t.test('logout confirmation posts to /.gatehouse/logout with the csrf token', async (t) => {
  const html = logoutPage({ csrf: 'TOK', user: EVIL });
  checkDocument(t, html);
  t.match(html, '<h1>Sign out</h1>');
  t.match(html, `<p>You are signed in as <strong>${EVIL_ESCAPED}</strong>.</p>`);
  t.match(html, '<form method="post" action="/.gatehouse/logout">\n<input type="hidden" name="csrf" value="TOK">\n<button type="submit">Sign out</button>\n</form>');
  const anonymous = logoutPage({ csrf: '"' });
  t.notMatch(anonymous, 'signed in as');
  t.match(anonymous, 'value="&quot;"');
});

t.test('signed-out page links to sign in again', async (t) => {
  const html = signedOutPage();
  checkDocument(t, html);
  t.match(html, '<h1>Signed out</h1>');
  t.match(html, '<p><a href="/.gatehouse/login">Sign in again</a></p>');
  t.match(signedOutPage({ signInHref: '/.gatehouse/login?rd=/a&b' }), '<a href="/.gatehouse/login?rd=/a&amp;b">Sign in again</a>');
});

t.test('error page: escaped title, message, code, request id and retry link', async (t) => {
  const html = errorPage({ title: EVIL, message: EVIL, code: 'GATEHOUSE_ERR_LOGIN_FAILED', requestId: 'r1', retryHref: '/.gatehouse/login?rd=/"x"' });
  checkDocument(t, html);
  t.match(html, `<title>${EVIL_ESCAPED}</title>`);
  t.match(html, `<h1>${EVIL_ESCAPED}</h1>`);
  t.match(html, `<p role="alert">${EVIL_ESCAPED}</p>`);
  t.match(html, '<p class="detail">Code: GATEHOUSE_ERR_LOGIN_FAILED · Request ID: r1</p>');
  t.match(html, '<p><a href="/.gatehouse/login?rd=/&quot;x&quot;">Try again</a></p>');
  t.notMatch(html, '<script>');
  const bare = errorPage({ title: 'Oops', message: 'Something failed.' });
  t.notMatch(bare, 'class="detail"');
  t.notMatch(bare, '<a ');
  t.match(errorPage({ title: 'x', message: 'y', retryHref: '/', retryLabel: '<Back>' }), '<a href="/">&lt;Back&gt;</a>');
});

t.test('redirect page links to the target, escaped', async (t) => {
  const html = redirectPage('/a?b=1&c=<2>');
  checkDocument(t, html);
  t.match(html, '<p><a href="/a?b=1&amp;c=&lt;2&gt;">Continue</a></p>');
});
