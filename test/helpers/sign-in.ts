// Signing in through the built-in form provider over HTTP, as a browser does: GET the form
// (it sets the pre-session csrf cookie and holds the matching token in a hidden field),
// then POST the credentials with both. Read back by hand rather than with src/ code: the
// oracle must not share a bug with the code it judges.
import { request } from 'undici';

type Headers = Record<string, string | string[] | undefined>;

/** Every Set-Cookie of an answer, one string each (they cannot be folded: Expires holds a comma). */
export const setCookies = (headers: Headers): string[] => {
  const v = headers['set-cookie'];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

/** `name=value` of the Set-Cookie for `name` (undefined when none sets it). */
export const cookiePair = (headers: Headers, name: string): string | undefined =>
  setCookies(headers)
    .map((c) => c.split(';', 1)[0]!)
    .find((p) => p.startsWith(`${name}=`));

const unescapeHtml = (s: string): string =>
  s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);

/** A hidden field's value from one of gatehouse's pages (unescaped), undefined when absent. */
export function hidden(html: string, name: string): string | undefined {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(html);
  return m ? unescapeHtml(m[1]!) : undefined;
}

export interface SignInOptions {
  /** The session cookie's name; the form's csrf cookie is `<name>-csrf`. */
  readonly cookie: string;
  readonly user: string;
  readonly password: string;
  /** Where the form sends the browser afterwards. */
  readonly rd?: string;
}

export interface SignInAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
  /** How long the POST took (the form's GET not included). */
  readonly ms: number;
}

/** GETs the form of the `local` provider on `base`, then POSTs the credentials; the POST's answer. */
export async function postSignIn(base: string, o: SignInOptions): Promise<SignInAnswer> {
  const form = await request(`${base}/.gatehouse/login/local?rd=${encodeURIComponent(o.rd ?? '/app/home')}`, { headers: { accept: 'text/html' } });
  const html = await form.body.text();
  if (form.statusCode !== 200) throw new Error(`sign-in form: ${form.statusCode}`);
  const csrfCookie = cookiePair(form.headers, `${o.cookie}-csrf`);
  if (csrfCookie === undefined) throw new Error('sign-in form set no csrf cookie');
  const field = (name: string): string => {
    const value = hidden(html, name);
    if (value === undefined) throw new Error(`no hidden field ${name} in the sign-in form`);
    return value;
  };
  const started = performance.now();
  const res = await request(`${base}/.gatehouse/login/local`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie, 'sec-fetch-site': 'same-origin', accept: 'text/html' },
    body: new URLSearchParams({ username: o.user, password: o.password, csrf: field('csrf'), rd: field('rd') }).toString(),
  });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body, ms: performance.now() - started };
}

/** Signs in and returns the session cookie (`name=value`); throws unless it worked. */
export async function signIn(base: string, o: SignInOptions): Promise<string> {
  const res = await postSignIn(base, o);
  const rd = o.rd ?? '/app/home';
  if (res.status !== 303) throw new Error(`sign-in POST: ${res.status}`);
  if (res.headers.location !== rd) throw new Error(`sign-in redirect: ${String(res.headers.location)}`);
  const session = cookiePair(res.headers, o.cookie);
  if (session === undefined) throw new Error('sign-in set no session cookie');
  return session;
}
