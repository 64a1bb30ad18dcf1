/** Jupyter checks `X-XSRFToken` against the `_xsrf` cookie on cookie-authenticated writes. When several `_xsrf`
 * cookies exist (different paths), the browser sends the most specific first; Jupyter reads the last one it
 * parses, so send the last. */
export function xsrfToken(cookie: string = globalThis.document?.cookie ?? ""): string | undefined {
  let token: string | undefined;
  for (const part of cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === "_xsrf") token = decodeURIComponent(v.join("="));
  }
  return token;
}

export const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
