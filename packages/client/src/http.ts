import createClient, { type Client, type Middleware } from "openapi-fetch";
import { ApiError } from "./errors";
import type { paths } from "./schema";
import { WRITE_METHODS, xsrfToken } from "./xsrf";

/** A path of the API exactly as `openapi.json` declares it: calling an undeclared route fails to compile. */
export type ApiPath = keyof paths & string;
export type PathParams = Record<string, string | number>;
export type Method = "GET" | "POST" | "PUT" | "DELETE";

type Operation<P extends ApiPath, M extends Method> = paths[P][Lowercase<M>];
type Success<R> = R extends { 200: infer X } ? X : R extends { 201: infer X } ? X : R extends { 202: infer X } ? X : never;
type Json<X> = X extends { content: { "application/json": infer J } } ? J : undefined;
/** The JSON body `openapi.json` declares for a successful `M P` (`undefined` for 204). */
export type ResponseOf<P extends ApiPath, M extends Method> =
  Operation<P, M> extends { responses: infer R } ? (R extends { 204: unknown } ? undefined : Json<Success<R>>) : never;
/** Paths that declare method `M`. */
export type PathWith<M extends Method> = {
  [P in ApiPath]: Operation<P, M> extends { responses: unknown } ? P : never;
}[ApiPath];
export type Query = Record<string, string | number | boolean | null | undefined>;

export interface HttpOptions {
  /** Jupyter's base URL (`/user/alice/`); the API lives at `{baseUrl}rat/api/v1`. */
  baseUrl: string;
  /** Another transport (JupyterLab's `ServerConnection.makeRequest`, tests). */
  fetch?: typeof globalThis.fetch;
  /** Where the XSRF token comes from; defaults to the `_xsrf` cookie. */
  xsrf?: () => string | undefined;
}

export interface RequestOptions {
  params?: PathParams;
  query?: Query;
  body?: unknown;
  /** Multipart bodies (uploads) go as they are. */
  form?: FormData;
  signal?: AbortSignal;
}

/** Substitute `{name}` segments; `{path}` may contain slashes, others are encoded as one segment. */
export function fillPath(template: string, params: PathParams = {}, query: Query = {}): string {
  const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter '${name}' for ${template}`);
    const text = String(value);
    return name === "path" ? text.split("/").map(encodeURIComponent).join("/") : encodeURIComponent(text);
  });
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") search.set(k, String(v));
  }
  const qs = search.toString();
  return qs ? `${path}?${qs}` : path;
}

/** The low-level transport: JSON in and out, XSRF on writes, every failure an {@link ApiError}. */
export class Http {
  readonly root: string;
  private readonly fetchFn: typeof globalThis.fetch;
  private readonly xsrf: () => string | undefined;
  /** The typed openapi-fetch client over the same transport (for calls whose bodies the document types). */
  readonly typed: Client<paths>;

  constructor(options: HttpOptions) {
    this.root = options.baseUrl.replace(/\/+$/, "");
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.xsrf = options.xsrf ?? (() => xsrfToken());
    this.typed = createClient<paths>({ baseUrl: this.root, fetch: (req: Request) => this.fetchFn(req) });
    this.typed.use(this.middleware());
  }

  /** XSRF on writes and ApiError on failures for the typed client too. */
  middleware(): Middleware {
    return {
      onRequest: ({ request }) => {
        if (WRITE_METHODS.has(request.method)) {
          const token = this.xsrf();
          if (token) request.headers.set("X-XSRFToken", token);
        }
        return request;
      },
      onResponse: async ({ response }) => {
        if (!response.ok) throw ApiError.from(response, await readBody(response.clone()));
        return response;
      },
    };
  }

  url(path: ApiPath, params?: PathParams, query?: Query): string {
    return this.root + fillPath(path, params, query);
  }

  /** A call whose result type comes from the document: the path must declare the method, and the result is
   * what the document says the server answers (so a model change on the server is a compile error here). */
  call<M extends Method, P extends PathWith<M>>(method: M, path: P, options: RequestOptions = {}): Promise<ResponseOf<P, M>> {
    return this.request<ResponseOf<P, M>>(method, path, options);
  }

  /** A call with a caller-declared result type (for responses the document leaves open). Prefer `call`. */
  async request<T>(method: string, path: ApiPath, options: RequestOptions = {}): Promise<T> {
    const headers = new Headers({ Accept: "application/json" });
    let body: BodyInit | undefined;
    if (options.form) {
      body = options.form;
    } else if (options.body !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.body);
    }
    if (WRITE_METHODS.has(method)) {
      const token = this.xsrf();
      if (token) headers.set("X-XSRFToken", token);
    }
    let response: Response;
    try {
      response = await this.fetchFn(this.url(path, options.params, options.query), {
        method,
        headers,
        body,
        credentials: "same-origin",
        signal: options.signal,
      });
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
      throw ApiError.network(cause);
    }
    const parsed = await readBody(response);
    if (!response.ok) throw ApiError.from(response, parsed);
    return parsed as T;
  }
}

async function readBody(response: Response): Promise<unknown> {
  if (response.status === 204) return undefined;
  const text = await response.text();
  if (!text) return undefined;
  const type = response.headers.get("Content-Type") ?? "";
  if (type.includes("json")) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}
