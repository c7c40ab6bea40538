// /.gatehouse/login, /login/<provider>, /callback/<provider>, /logout and
// /backchannel-logout/<provider>: dispatched on the NORMALIZED path by the proxy shell,
// never forwarded (config.md "Endpoints gatehouse owns").
import { errorBody, type ErrorCode } from '../errors.js';
import { isCrossSite } from '../pipeline/authorize/csrf.js';
import type { SessionManager } from '../sessions/manager.js';
import type { StoredSession } from '../sessions/types.js';
import { storageKey } from '../sessions/session-id.js';
import { chooserPage, errorPage, htmlAnswer, logoutPage, providerLoginHref, signedOutPage } from './pages.js';
import { safeRedirect } from './redirect.js';
import type { CsrfTokens, LoginAnswer, LoginContext, LoginProvider, LoginRequest } from './types.js';

export const LOGIN_PREFIX = '/.gatehouse/login';
const LOGOUT_PATH = '/.gatehouse/logout';
const CALLBACK_PREFIX = '/.gatehouse/callback/';
const BACKCHANNEL_PREFIX = '/.gatehouse/backchannel-logout/';

export interface LoginRouterOptions {
  readonly providers: ReadonlyMap<string, LoginProvider>;
  readonly manager: SessionManager;
  readonly csrf: CsrfTokens;
  readonly publicOrigins: readonly string[];
  readonly allowedRedirectHosts: readonly string[];
  /** Told about store failures turned into 503. Must not throw. */
  readonly onError?: (where: string, err: unknown) => void;
}

export interface RoutedAnswer {
  readonly answer: LoginAnswer;
  /** Label for logs and metrics: login, callback, logout, backchannel-logout. */
  readonly endpoint: string;
}

export interface LoginRouter {
  /** Whether path belongs to the sign-in endpoints (so the shell reads a form body for it). */
  owns(path: string): boolean;
  handle(request: LoginRequest): Promise<RoutedAnswer>;
}

function jsonAnswer(code: ErrorCode, status: number, requestId: string, headers: Record<string, string> = {}, reason?: string): LoginAnswer {
  return {
    status,
    headers: { 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(errorBody(code, requestId)),
    contentType: 'application/json; charset=utf-8',
    ...(reason === undefined ? {} : { reason }),
  };
}

function redirect(location: string, setCookie: readonly string[] = [], reason?: string, user?: string): LoginAnswer {
  return {
    status: 303,
    headers: { 'cache-control': 'no-store', location, ...(setCookie.length > 0 ? { 'set-cookie': setCookie } : {}) },
    body: '',
    contentType: 'text/plain; charset=utf-8',
    ...(reason === undefined ? {} : { reason }),
    ...(user === undefined ? {} : { user }),
  };
}

/** The segment after a prefix, when it is exactly one non-empty segment. */
function providerName(path: string, prefix: string): string | undefined {
  if (!path.startsWith(prefix)) return undefined;
  const rest = path.slice(prefix.length);
  return rest !== '' && !rest.includes('/') ? rest : undefined;
}

export function createLoginRouter(options: LoginRouterOptions): LoginRouter {
  const { providers, manager, csrf } = options;
  const report = (where: string, err: unknown): void => {
    try {
      options.onError?.(where, err);
    } catch {
      // A broken reporter must not turn an answer into a crash.
    }
  };

  const unavailable = (request: LoginRequest, where: string, err: unknown): LoginAnswer => {
    report(where, err);
    return htmlAnswer(503, errorPage({ title: 'Sign-in unavailable', message: 'Sign-in is temporarily unavailable. Please try again shortly.', code: 'GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE', requestId: request.requestId }), { reason: 'session-store-unavailable' });
  };

  function contextFor(request: LoginRequest): LoginContext {
    return {
      publicOrigins: options.publicOrigins,
      allowedRedirectHosts: options.allowedRedirectHosts,
      csrf,
      async startSession(provider, signIn, now) {
        // A new id at every sign-in (security.md §8); the session the browser had ends.
        const previous = await manager.resolve(request.facts.rawHeaders, now);
        if (previous.kind === 'live') await manager.end(previous.id);
        return (await manager.start(provider, signIn, now)).setCookie;
      },
    };
  }

  const methodNotAllowed = (request: LoginRequest, allow: string): LoginAnswer =>
    jsonAnswer('GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED', 405, request.requestId, { allow });
  const notFound = (request: LoginRequest): LoginAnswer => jsonAnswer('GATEHOUSE_ERR_ROUTE_NOT_FOUND', 404, request.requestId);
  const isGet = (request: LoginRequest): boolean => request.facts.method === 'GET' || request.facts.method === 'HEAD';

  async function chooser(request: LoginRequest): Promise<LoginAnswer> {
    if (!isGet(request)) return methodNotAllowed(request, 'GET, HEAD');
    const rd = safeRedirect(new URLSearchParams(request.facts.query).get('rd') ?? undefined, options.allowedRedirectHosts);
    const list = [...providers.values()];
    if (list.length === 1) return { ...redirect(providerLoginHref(list[0]!.name, rd)), status: 302 };
    return htmlAnswer(200, chooserPage({ providers: list.map((p) => ({ name: p.name, label: p.label })), rd }));
  }

  /** RP-initiated logout: the OP ends its own session too, then sends the user back to sign in. */
  async function endSessionUrl(session: StoredSession): Promise<string | undefined> {
    const provider = providers.get(session.provider);
    const origin = options.publicOrigins[0];
    if (!provider?.endSessionUrl || origin === undefined) return undefined;
    try {
      return await provider.endSessionUrl(session, `${origin}${LOGIN_PREFIX}`);
    } catch (err) {
      report('end-session', err);
      return undefined;
    }
  }

  async function logout(request: LoginRequest): Promise<LoginAnswer> {
    const { facts } = request;
    if (!isGet(request) && facts.method !== 'POST') return methodNotAllowed(request, 'GET, HEAD, POST');
    let lookup;
    try {
      lookup = await manager.resolve(facts.rawHeaders, request.now);
    } catch (err) {
      return unavailable(request, 'session-store', err);
    }
    if (isGet(request)) {
      if (lookup.kind !== 'live') return htmlAnswer(200, signedOutPage(), { headers: { 'set-cookie': manager.clearCookie() } });
      // CSP form-action also governs the redirect that follows the POST (CSP 3 §6.3.1):
      // the OP's end-session origin must be allowed, or the browser stops at our page.
      const next = await endSessionUrl(lookup.session);
      return htmlAnswer(200, logoutPage({ csrf: csrf.issue(`logout:${storageKey(lookup.id)}`), user: lookup.session.user }), next === undefined ? {} : { formTargets: [new URL(next).origin] });
    }
    // POST only ends a session with a token from our own logout page (security.md §8).
    if (lookup.kind !== 'live') return redirect(LOGIN_PREFIX, [manager.clearCookie()], 'no-session');
    if (isCrossSite(facts, options.publicOrigins) || !csrf.verify(request.form?.get('csrf') ?? undefined, `logout:${storageKey(lookup.id)}`)) {
      return htmlAnswer(403, errorPage({ title: 'Sign-out refused', message: 'This sign-out request did not come from this site. Use the sign-out button again.', code: 'GATEHOUSE_ERR_CSRF_REJECTED', requestId: request.requestId, retryHref: LOGOUT_PATH, retryLabel: 'Sign out' }), { reason: 'csrf-rejected', user: lookup.session.user });
    }
    const session = lookup.session;
    try {
      await manager.end(lookup.id);
    } catch (err) {
      return unavailable(request, 'session-store', err);
    }
    return redirect((await endSessionUrl(session)) ?? LOGIN_PREFIX, [manager.clearCookie()], 'signed-out', session.user);
  }

  return {
    owns(path) {
      return path === LOGIN_PREFIX || path.startsWith(LOGIN_PREFIX + '/') || path === LOGOUT_PATH || path.startsWith(CALLBACK_PREFIX) || path.startsWith(BACKCHANNEL_PREFIX);
    },

    async handle(request) {
      const path = request.facts.path;
      if (path === LOGIN_PREFIX) return { answer: await chooser(request), endpoint: 'login' };
      if (path === LOGOUT_PATH) return { answer: await logout(request), endpoint: 'logout' };
      const login = providerName(path, LOGIN_PREFIX + '/');
      if (login !== undefined) {
        const provider = providers.get(login);
        if (!provider) return { answer: notFound(request), endpoint: 'login' };
        if (!isGet(request) && request.facts.method !== 'POST') return { answer: methodNotAllowed(request, provider.type === 'form' ? 'GET, HEAD, POST' : 'GET, HEAD'), endpoint: 'login' };
        // With the store down a sign-in cannot succeed: answer before the password is
        // checked, so the form is no password oracle during the outage (security.md §10).
        if (request.facts.method === 'POST' && !manager.settings.store.health().ok) return { answer: unavailable(request, 'session-store', new Error('session store down')), endpoint: 'login' };
        const rd = safeRedirect((request.form?.get('rd') ?? new URLSearchParams(request.facts.query).get('rd')) ?? undefined, options.allowedRedirectHosts);
        try {
          return { answer: await provider.login(request, rd, contextFor(request)), endpoint: 'login' };
        } catch (err) {
          return { answer: unavailable(request, 'login', err), endpoint: 'login' };
        }
      }
      const callback = providerName(path, CALLBACK_PREFIX);
      if (callback !== undefined) {
        const provider = providers.get(callback);
        if (!provider?.callback) return { answer: notFound(request), endpoint: 'callback' };
        if (!isGet(request)) return { answer: methodNotAllowed(request, 'GET, HEAD'), endpoint: 'callback' };
        try {
          return { answer: await provider.callback(request, contextFor(request)), endpoint: 'callback' };
        } catch (err) {
          return { answer: unavailable(request, 'callback', err), endpoint: 'callback' };
        }
      }
      const backchannel = providerName(path, BACKCHANNEL_PREFIX);
      if (backchannel !== undefined) {
        const provider = providers.get(backchannel);
        if (!provider?.backchannelLogout) return { answer: notFound(request), endpoint: 'backchannel-logout' };
        if (request.facts.method !== 'POST') return { answer: methodNotAllowed(request, 'POST'), endpoint: 'backchannel-logout' };
        return { answer: await provider.backchannelLogout(request), endpoint: 'backchannel-logout' };
      }
      return { answer: notFound(request), endpoint: 'unknown' };
    },
  };
}
