// The built-in sign-in form (`login.providers.<name>.type: form`) against a `basic`
// authenticator's users: the same throttle and dummy-hash timing as Basic (security.md
// §7), a session with a fresh id on success (§8), `rd` re-checked (§9), and the password
// never written anywhere (§13).
//
// CSRF before sign-in (login CSRF would sign a victim into the attacker's account): a
// random pre-session cookie `<name>-csrf` and a token bound to it in the form (signed
// double submit), plus Fetch Metadata and Origin checks on the POST.
import { randomBytes } from 'node:crypto';
import { ERRORS, errorStatus } from '../errors.js';
import { crossSiteReason } from '../pipeline/authorize/csrf.js';
import type { AuthResult } from '../pipeline/types.js';
import { clearCookie, helperCookieName, readCookie, serializeCookie, type CookieSettings } from '../sessions/cookie.js';
import { errorPage, htmlAnswer, providerLoginHref, redirectPage, signInPage } from './pages.js';
import { safeRedirect } from './redirect.js';
import type { LoginAnswer, LoginContext, LoginProvider, LoginRequest, PasswordChecker, SignIn } from './types.js';

export interface FormProviderOptions {
  readonly name: string;
  readonly label: string;
  readonly checker: PasswordChecker;
  readonly cookie: CookieSettings;
}

export const MAX_USERNAME_LENGTH = 256;
export const MAX_PASSWORD_BYTES = 1024;
const PRE_SESSION_MAX_AGE_SEC = 3600;
// 32 random bytes in base64url: what we issue, and all we accept back.
const PRE_SESSION_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** The one message for a wrong password and an unknown user alike (security.md §7). */
export const INVALID_CREDENTIALS_MESSAGE = 'The username or password is incorrect.';
const TOO_LONG_MESSAGE = 'The username or password is longer than allowed.';

interface PreSession {
  readonly value: string;
  /** Set-Cookie when the value is new. */
  readonly setCookie?: string;
}

interface FormView {
  readonly status: number;
  readonly pre: PreSession;
  readonly rd: string;
  readonly username?: string;
  readonly error?: string;
  readonly code?: string;
  readonly reason: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export function createFormProvider(options: FormProviderOptions): LoginProvider {
  const { name, label, checker, cookie } = options;
  const csrfCookie = helperCookieName(cookie, 'csrf');
  const binding = (value: string): string => `login:${name}:${value}`;

  /** The client's pre-session cookie when well-formed; reused so several tabs share it. */
  const presentedPreSession = (request: LoginRequest): string | undefined => {
    const read = readCookie(request.facts.rawHeaders, csrfCookie);
    return read.kind === 'one' && PRE_SESSION_SHAPE.test(read.value) ? read.value : undefined;
  };

  const newPreSession = (): PreSession => {
    const value = randomBytes(32).toString('base64url');
    return { value, setCookie: serializeCookie(cookie, csrfCookie, value, { maxAgeSec: PRE_SESSION_MAX_AGE_SEC }) };
  };

  const renderForm = (request: LoginRequest, context: LoginContext, view: FormView): LoginAnswer => {
    const html = signInPage({
      provider: name,
      label,
      csrf: context.csrf.issue(binding(view.pre.value)),
      rd: view.rd,
      ...(view.username === undefined ? {} : { username: view.username }),
      ...(view.error === undefined ? {} : { error: view.error, requestId: request.requestId }),
      ...(view.code === undefined ? {} : { code: view.code }),
    });
    const headers: Record<string, string> = { ...view.headers };
    if (view.pre.setCookie !== undefined) headers['set-cookie'] = view.pre.setCookie;
    // The success redirect may leave our origin for an allowed host; form-action must
    // allow it or the browser blocks the redirect that follows the POST.
    const formTargets = view.rd.startsWith('https://') ? [new URL(view.rd).origin] : [];
    return htmlAnswer(view.status, html, { headers, reason: view.reason, formTargets });
  };

  const showForm = (request: LoginRequest, rd: string, context: LoginContext): LoginAnswer => {
    const presented = presentedPreSession(request);
    const pre = presented === undefined ? newPreSession() : { value: presented };
    // The router made rd safe already; checking again keeps this provider safe on its own.
    const target = safeRedirect(rd, context.allowedRedirectHosts);
    return renderForm(request, context, { status: 200, pre, rd: target, reason: 'login-form' });
  };

  const submit = async (request: LoginRequest, rd: string, context: LoginContext): Promise<LoginAnswer> => {
    const form = request.form;
    const target = safeRedirect(form?.get('rd') ?? rd, context.allowedRedirectHosts);
    const presented = presentedPreSession(request);

    const refusal = csrfRefusal(request, context, presented, (value) => context.csrf.verify(form?.get('csrf') ?? undefined, binding(value)));
    if (refusal !== undefined) {
      // No typed username is echoed: on a cross-site POST it is the attacker's text.
      return renderForm(request, context, {
        status: errorStatus('GATEHOUSE_ERR_CSRF_REJECTED'),
        pre: presented === undefined ? newPreSession() : { value: presented },
        rd: target,
        error: ERRORS.GATEHOUSE_ERR_CSRF_REJECTED.message,
        code: 'GATEHOUSE_ERR_CSRF_REJECTED',
        reason: refusal,
      });
    }
    // csrfRefusal returned nothing, so the cookie was presented.
    const pre: PreSession = { value: presented! };

    const username = form!.get('username') ?? '';
    const password = form!.get('password') ?? '';
    if (username.length > MAX_USERNAME_LENGTH || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
      return renderForm(request, context, { status: 400, pre, rd: target, error: TOO_LONG_MESSAGE, reason: 'field-too-long' });
    }

    let result: AuthResult;
    try {
      result = await checker.checkPassword(username, password, request.facts.clientIp);
    } catch {
      // The checker failed unexpectedly: fail closed (security.md §10), never sign in.
      // (A throttle store outage does not land here: counting falls back to this process.)
      result = { outcome: 'fail', reason: 'checker-unavailable', code: 'GATEHOUSE_ERR_AUTH_UNAVAILABLE' };
    }

    if (result.outcome === 'ok') {
      const { identity } = result;
      const user = identity.user ?? username;
      const signIn: SignIn = {
        user,
        ...(identity.email === undefined ? {} : { email: identity.email }),
        ...(identity.name === undefined ? {} : { name: identity.name }),
        groups: identity.groups,
        claims: identity.claims,
      };
      let sessionCookie: string;
      try {
        // startSession makes the id: nothing the client sent is ever reused (no fixation).
        sessionCookie = await context.startSession(name, signIn, request.now);
      } catch {
        return htmlAnswer(
          errorStatus('GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE'),
          errorPage({
            title: 'Sign-in unavailable',
            message: ERRORS.GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE.message,
            code: 'GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE',
            requestId: request.requestId,
            retryHref: providerLoginHref(name, target),
          }),
          { reason: 'session-store-unavailable' },
        );
      }
      return htmlAnswer(303, redirectPage(target), {
        headers: { location: target, 'set-cookie': [sessionCookie, clearCookie(cookie, csrfCookie)] },
        reason: 'signed-in',
        user,
      });
    }

    if (result.outcome === 'fail' && result.code === 'GATEHOUSE_ERR_AUTH_THROTTLED') {
      return renderForm(request, context, {
        status: 429,
        pre,
        rd: target,
        username,
        error: ERRORS.GATEHOUSE_ERR_AUTH_THROTTLED.message,
        code: result.code,
        reason: result.reason,
        headers: { 'retry-after': String(result.retryAfter ?? 60) },
      });
    }
    if (result.outcome === 'fail' && result.code !== 'GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS') {
      // Our outage (verify error, store down), not the user's mistake.
      return renderForm(request, context, {
        status: errorStatus(result.code),
        pre,
        rd: target,
        username,
        error: ERRORS[result.code].message,
        code: result.code,
        reason: result.reason,
      });
    }
    // Invalid credentials, and `skip`, which a checker should never return for a form.
    return renderForm(request, context, {
      status: 401,
      pre,
      rd: target,
      username,
      error: INVALID_CREDENTIALS_MESSAGE,
      reason: 'invalid-credentials',
    });
  };

  return {
    name,
    type: 'form',
    label,
    async login(request: LoginRequest, rd: string, context: LoginContext): Promise<LoginAnswer> {
      const method = request.facts.method;
      if (method === 'GET' || method === 'HEAD') return showForm(request, rd, context);
      if (method === 'POST') return submit(request, rd, context);
      return htmlAnswer(
        405,
        errorPage({
          title: 'Method not allowed',
          message: ERRORS.GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED.message,
          code: 'GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED',
          requestId: request.requestId,
        }),
        { headers: { allow: 'GET, HEAD, POST' }, reason: 'method-not-allowed' },
      );
    },
  };
}

/** Why a sign-in POST is refused as cross-site, or undefined when it passes. */
function csrfRefusal(
  request: LoginRequest,
  context: LoginContext,
  preSession: string | undefined,
  tokenValidFor: (preSession: string) => boolean,
): string | undefined {
  // Fetch Metadata and Origin: only our own pages (or the user typing/bookmarking) may post here.
  const crossSite = crossSiteReason(request.facts, context.publicOrigins);
  if (crossSite !== undefined) return crossSite;
  if (preSession === undefined) return 'csrf-cookie-missing';
  if (!tokenValidFor(preSession)) return 'csrf-token-invalid';
  return undefined;
}
