// PHP, CGI and some Go and Python stacks fold '-', '_' and '.' into one name, and header
// names are case-insensitive (RFC 9110 §5.1): "X_Auth.User" must be treated as
// "x-auth-user" wherever we decide what a client may send (security.md §5).
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/[_.]/g, '-');
}

/** RFC 9110 §5.1 field-name = token. */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
