// Every error gatehouse answers a client with, in one place. A test checks that
// each code is unique and documented in docs/errors.md (code | status | meaning | fix).
// Clients get {error, code, message, requestId}; reasons and causes go to logs only.

export interface ErrorSpec {
  readonly status: number;
  /** Safe for clients: never carries request data, credentials or internal addresses. */
  readonly message: string;
}

export const ERRORS = {
  // Request shape (security.md §2, §11, §12, §14)
  GATEHOUSE_ERR_REQUEST_BAD_TARGET: { status: 400, message: 'The request target is malformed or ambiguous.' },
  GATEHOUSE_ERR_REQUEST_BAD_HOST: { status: 400, message: 'The Host header is missing or malformed.' },
  GATEHOUSE_ERR_REQUEST_AMBIGUOUS: { status: 400, message: 'The request repeats a header that must appear once.' },
  GATEHOUSE_ERR_REQUEST_MALFORMED: { status: 400, message: 'The request could not be parsed.' },
  GATEHOUSE_ERR_REQUEST_TIMEOUT: { status: 408, message: 'The request headers were not received in time.' },
  GATEHOUSE_ERR_REQUEST_BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than allowed.' },
  GATEHOUSE_ERR_REQUEST_TARGET_TOO_LONG: { status: 414, message: 'The request target is longer than allowed.' },
  GATEHOUSE_ERR_REQUEST_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large or too many.' },
  GATEHOUSE_ERR_REQUEST_UPGRADE_REFUSED: { status: 400, message: 'Only WebSocket upgrades are accepted.' },
  GATEHOUSE_ERR_REQUEST_METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not accepted by the gateway.' },
  // Routing (security.md §4)
  GATEHOUSE_ERR_ROUTE_NOT_FOUND: { status: 404, message: 'No route matches this request.' },
  // Authentication
  GATEHOUSE_ERR_AUTH_REQUIRED: { status: 401, message: 'Authentication is required.' },
  GATEHOUSE_ERR_AUTH_INVALID_CREDENTIALS: { status: 401, message: 'The credentials are invalid.' },
  GATEHOUSE_ERR_AUTH_MALFORMED_CREDENTIALS: { status: 401, message: 'The Authorization header is malformed.' },
  GATEHOUSE_ERR_AUTH_TOKEN_EXPIRED: { status: 401, message: 'The token has expired.' },
  GATEHOUSE_ERR_AUTH_TOKEN_NOT_YET_VALID: { status: 401, message: 'The token is not valid yet.' },
  GATEHOUSE_ERR_AUTH_THROTTLED: { status: 429, message: 'Too many failed attempts; retry later.' },
  GATEHOUSE_ERR_AUTH_UNAVAILABLE: { status: 503, message: 'Authentication is temporarily unavailable.' },
  // Authorization
  GATEHOUSE_ERR_AUTHZ_FORBIDDEN: { status: 403, message: 'You are not allowed to access this resource.' },
  GATEHOUSE_ERR_AUTHZ_INSUFFICIENT_SCOPE: { status: 403, message: 'The token lacks a scope this resource requires.' },
  GATEHOUSE_ERR_AUTHZ_ROUTE_DENIED: { status: 403, message: 'This route is closed.' },
  // Sessions and sign-in (security.md §8-§10)
  GATEHOUSE_ERR_SESSION_INVALID: { status: 401, message: 'The session cookie is invalid.' },
  GATEHOUSE_ERR_SESSION_STORE_UNAVAILABLE: { status: 503, message: 'Sessions are temporarily unavailable.' },
  GATEHOUSE_ERR_CSRF_REJECTED: { status: 403, message: 'The request did not come from this site.' },
  GATEHOUSE_ERR_LOGIN_FAILED: { status: 400, message: 'The sign-in could not be completed; start again.' },
  GATEHOUSE_ERR_LOGIN_PROVIDER_UNAVAILABLE: { status: 503, message: 'The sign-in provider is temporarily unavailable.' },
  GATEHOUSE_ERR_LOGOUT_TOKEN_INVALID: { status: 400, message: 'The logout token is invalid.' },
  // Forward-auth (/.gatehouse/auth; security.md §2)
  GATEHOUSE_ERR_FORWARD_AUTH_UNTRUSTED: { status: 403, message: 'Only trusted proxies may ask for forward-auth decisions.' },
  GATEHOUSE_ERR_FORWARD_AUTH_BAD_REQUEST: { status: 400, message: 'The forward-auth request does not describe the original request unambiguously.' },
  GATEHOUSE_ERR_FORWARD_AUTH_NOT_NORMALIZED: { status: 400, message: 'The original request target is not in normalized form.' },
  // Upstream (security.md §10: no identity data in these bodies)
  GATEHOUSE_ERR_UPSTREAM_UNREACHABLE: { status: 502, message: 'The upstream could not be reached.' },
  GATEHOUSE_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, message: 'The upstream answered with an invalid response.' },
  GATEHOUSE_ERR_UPSTREAM_TIMEOUT: { status: 504, message: 'The upstream did not answer in time.' },
  // Our own fault
  GATEHOUSE_ERR_INTERNAL: { status: 500, message: 'An internal error occurred.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export interface ErrorBody {
  error: string;
  code: ErrorCode;
  message: string;
  requestId: string;
}

export function errorStatus(code: ErrorCode): number {
  return ERRORS[code].status;
}

export function errorBody(code: ErrorCode, requestId: string): ErrorBody {
  const { status, message } = ERRORS[code];
  return { error: REASON_PHRASES[status] ?? 'Error', code, message, requestId };
}
