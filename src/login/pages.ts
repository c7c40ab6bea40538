// The few HTML pages gatehouse shows itself: provider chooser, sign-in form, logout
// confirmation, signed-out and error pages. Plain HTML and one inline stylesheet: no
// script, no external asset, so the CSP can deny everything else and the pages work
// with JavaScript off. Every value that reaches the markup goes through escapeHtml.
import { createHash } from 'node:crypto';
import type { LoginAnswer } from './types.js';

const STYLE = [
  ':root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5}',
  'body{margin:0;padding:1rem}',
  'main{max-width:24rem;margin:10vh auto}',
  'h1{font-size:1.5rem;margin:0 0 1rem}',
  'label{display:block;margin-top:1rem;font-weight:600}',
  'input{box-sizing:border-box;width:100%;padding:.5rem;font:inherit}',
  'button{margin-top:1.5rem;padding:.5rem 1.25rem;font:inherit;cursor:pointer}',
  'ul{padding:0;list-style:none}',
  'li{margin:.5rem 0}',
  'a,button,input{outline-offset:2px}',
  'a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #2563eb}',
  '.error{border-left:4px solid #b91c1c;padding:.5rem .75rem;background:#fef2f2;color:#7f1d1d}',
  '.error:empty{display:none}',
  '.detail{font-size:.875rem;opacity:.8}',
].join('');

// CSP Level 2 hash source: the one stylesheet is allowed, injected styles are not.
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE, 'utf8').digest('base64')}'`;

const LOGIN_PATH = '/.gatehouse/login';
const LOGOUT_PATH = '/.gatehouse/logout';

/** Escapes text for HTML element content and for double- or single-quoted attributes. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}
const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Content-Security-Policy of every page; `formTargets` are origins a form may post to
 * or be redirected to after posting besides our own (Chrome applies form-action to the
 * redirects that follow a submission). */
export function contentSecurityPolicy(formTargets: readonly string[] = []): string {
  const formAction = ["'self'", ...formTargets].join(' ');
  return `default-src 'none'; style-src ${STYLE_HASH}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
}

export interface HtmlAnswerExtra {
  /** Added to (and overriding) the defaults; lower-case names. */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly reason?: string;
  readonly user?: string;
  /** Extra form-action origins for the CSP (see contentSecurityPolicy). */
  readonly formTargets?: readonly string[];
}

/** A LoginAnswer carrying one of these pages, with the headers every page needs. */
export function htmlAnswer(status: number, html: string, extra: HtmlAnswerExtra = {}): LoginAnswer {
  const headers: Record<string, string | readonly string[]> = {
    'cache-control': 'no-store',
    'content-security-policy': contentSecurityPolicy(extra.formTargets),
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
    ...extra.headers,
  };
  return {
    status,
    headers,
    body: html,
    contentType: 'text/html; charset=utf-8',
    ...(extra.reason === undefined ? {} : { reason: extra.reason }),
    ...(extra.user === undefined ? {} : { user: extra.user }),
  };
}

/** Where the sign-in link of a provider points, keeping `rd`. */
export function providerLoginHref(name: string, rd: string): string {
  return `${LOGIN_PATH}/${encodeURIComponent(name)}?rd=${encodeURIComponent(rd)}`;
}

/** A whole document; `title` and `body` are trusted markup built here. */
function page(title: string, body: string): string {
  return (
    '<!doctype html>\n' +
    '<html lang="en">\n' +
    '<head>\n' +
    '<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    `<title>${title}</title>\n` +
    `<style>${STYLE}</style>\n` +
    '</head>\n' +
    '<body>\n' +
    '<main>\n' +
    `<h1>${title}</h1>\n` +
    body +
    '</main>\n' +
    '</body>\n' +
    '</html>\n'
  );
}

/** Code and request id under an error, so a user can quote them to support. */
function detail(code: string | undefined, requestId: string | undefined): string {
  const parts: string[] = [];
  if (code !== undefined) parts.push(`Code: ${escapeHtml(code)}`);
  if (requestId !== undefined) parts.push(`Request ID: ${escapeHtml(requestId)}`);
  return parts.length === 0 ? '' : `<p class="detail">${parts.join(' · ')}</p>\n`;
}

export interface ChooserPageOptions {
  readonly providers: readonly { readonly name: string; readonly label: string }[];
  /** Already made safe (safeRedirect). */
  readonly rd: string;
}

export function chooserPage(options: ChooserPageOptions): string {
  const items = options.providers
    .map((p) => `<li><a href="${escapeHtml(providerLoginHref(p.name, options.rd))}">${escapeHtml(p.label)}</a></li>\n`)
    .join('');
  return page('Sign in', `<p>Choose how to sign in:</p>\n<ul>\n${items}</ul>\n`);
}

export interface SignInPageOptions {
  /** Provider name: the form posts to /.gatehouse/login/<name>. */
  readonly provider: string;
  /** Shown as the heading, e.g. the provider's label. */
  readonly label: string;
  readonly csrf: string;
  /** Already made safe (safeRedirect). */
  readonly rd: string;
  /** Typed username to keep after a failed attempt (never the password). */
  readonly username?: string;
  /** One generic message; never says which of username or password was wrong. */
  readonly error?: string;
  readonly code?: string;
  readonly requestId?: string;
}

export function signInPage(options: SignInPageOptions): string {
  const action = `${LOGIN_PATH}/${encodeURIComponent(options.provider)}`;
  const invalid = options.error === undefined ? '' : ' aria-invalid="true" aria-describedby="error"';
  const body =
    `<div id="error" class="error" role="alert">${options.error === undefined ? '' : escapeHtml(options.error)}</div>\n` +
    (options.error === undefined ? '' : detail(options.code, options.requestId)) +
    `<form method="post" action="${escapeHtml(action)}">\n` +
    `<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">\n` +
    `<input type="hidden" name="rd" value="${escapeHtml(options.rd)}">\n` +
    '<label for="username">Username</label>\n' +
    `<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="256" required value="${escapeHtml(options.username ?? '')}"${invalid}>\n` +
    '<label for="password">Password</label>\n' +
    `<input id="password" name="password" type="password" autocomplete="current-password" required${invalid}>\n` +
    '<button type="submit">Sign in</button>\n' +
    '</form>\n';
  return page(`Sign in to ${escapeHtml(options.label)}`, body);
}

export interface LogoutPageOptions {
  readonly csrf: string;
  /** Who is signed in, when known. */
  readonly user?: string;
}

/** Logout is POST only (security.md §8): a link or image cannot sign anyone out. */
export function logoutPage(options: LogoutPageOptions): string {
  const who = options.user === undefined ? '' : `<p>You are signed in as <strong>${escapeHtml(options.user)}</strong>.</p>\n`;
  const body =
    who +
    `<form method="post" action="${LOGOUT_PATH}">\n` +
    `<input type="hidden" name="csrf" value="${escapeHtml(options.csrf)}">\n` +
    '<button type="submit">Sign out</button>\n' +
    '</form>\n';
  return page('Sign out', body);
}

export interface SignedOutPageOptions {
  /** Where "sign in again" leads; /.gatehouse/login by default. */
  readonly signInHref?: string;
}

export function signedOutPage(options: SignedOutPageOptions = {}): string {
  const href = options.signInHref ?? LOGIN_PATH;
  return page('Signed out', `<p>You are signed out.</p>\n<p><a href="${escapeHtml(href)}">Sign in again</a></p>\n`);
}

export interface ErrorPageOptions {
  readonly title: string;
  /** Safe for users: never request data, credentials or internal addresses. */
  readonly message: string;
  readonly code?: string;
  readonly requestId?: string;
  /** A link to start again (e.g. the sign-in page). */
  readonly retryHref?: string;
  readonly retryLabel?: string;
}

export function errorPage(options: ErrorPageOptions): string {
  const retry =
    options.retryHref === undefined
      ? ''
      : `<p><a href="${escapeHtml(options.retryHref)}">${escapeHtml(options.retryLabel ?? 'Try again')}</a></p>\n`;
  const body = `<p role="alert">${escapeHtml(options.message)}</p>\n` + detail(options.code, options.requestId) + retry;
  return page(escapeHtml(options.title), body);
}

/** Body of a 303 after sign-in, for clients that do not follow redirects. */
export function redirectPage(location: string): string {
  return page('Signed in', `<p><a href="${escapeHtml(location)}">Continue</a></p>\n`);
}
