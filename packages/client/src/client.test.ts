import { describe, expect, it } from "vitest";
import { ApiError, locateLine, problemFromError, problemsFromValidation } from "./errors";
import { fillPath } from "./http";
import { RatClient } from "./client";
import { readPageConfig } from "./config";
import { xsrfToken } from "./xsrf";
import { backoff, followRunLog } from "./sse";

interface Seen {
  url: string;
  method: string;
  headers: Headers;
  body: string | null;
}

function fakeFetch(status: number, body: unknown, seen: Seen[]): typeof fetch {
  return async (input, init) => {
    seen.push({
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: typeof init?.body === "string" ? init.body : null,
    });
    const text = body === undefined ? "" : JSON.stringify(body);
    return new Response(status === 204 ? null : text, { status, headers: { "Content-Type": "application/json" } });
  };
}

describe("RatClient", () => {
  it("prefixes the base URL and fills path parameters (one segment each, {path} keeps slashes)", async () => {
    const seen: Seen[] = [];
    const api = new RatClient({ baseUrl: "/user/alice/", fetch: fakeFetch(200, { id: "x" }, seen) });
    await api.getPipeline({ ns: "demo", layer: "gold", name: "a b" });
    await api.readFile("demo/pipelines/gold/x/pipeline.sql");
    expect(seen[0]?.url).toBe("/user/alice/rat/api/v1/pipelines/demo/gold/a%20b");
    expect(seen[1]?.url).toBe("/user/alice/rat/api/v1/files/demo/pipelines/gold/x/pipeline.sql");
  });

  it("sends the _xsrf cookie as X-XSRFToken on writes only", async () => {
    const seen: Seen[] = [];
    const api = new RatClient({ baseUrl: "/", fetch: fakeFetch(200, {}, seen), xsrf: () => "tok123" });
    await api.listNamespaces();
    await api.createNamespace("n1", "d");
    expect(seen[0]?.headers.get("X-XSRFToken")).toBeNull();
    expect(seen[1]?.headers.get("X-XSRFToken")).toBe("tok123");
    expect(seen[1]?.method).toBe("POST");
    expect(JSON.parse(seen[1]?.body ?? "{}")).toEqual({ name: "n1", description: "d" });
  });

  it("rejects with an ApiError carrying the server's message and code", async () => {
    const seen: Seen[] = [];
    const api = new RatClient({
      baseUrl: "/",
      fetch: fakeFetch(409, { message: "namespace 'n1' already exists", reason: "Conflict", code: "ALREADY_EXISTS" }, seen),
    });
    const err = await api.createNamespace("n1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.message).toBe("namespace 'n1' already exists");
    expect(e.code).toBe("ALREADY_EXISTS");
    expect(e.status).toBe(409);
  });

  it("turns a non-JSON failure and a network failure into readable ApiErrors", async () => {
    const html: typeof fetch = async () => new Response("<h1>bad gateway</h1>", { status: 502, statusText: "Bad Gateway" });
    const e1 = (await new RatClient({ baseUrl: "/", fetch: html }).listRuns().catch((e: unknown) => e)) as ApiError;
    expect(e1.status).toBe(502);
    expect(e1.message).toContain("bad gateway");
    const down: typeof fetch = async () => {
      throw new TypeError("Failed to fetch");
    };
    const e2 = (await new RatClient({ baseUrl: "/", fetch: down }).listRuns().catch((e: unknown) => e)) as ApiError;
    expect(e2.code).toBe("NETWORK");
    expect(e2.message).toContain("Failed to fetch");
  });

  it("returns undefined for 204 and drops empty query values", async () => {
    const seen: Seen[] = [];
    const api = new RatClient({ baseUrl: "/", fetch: fakeFetch(204, undefined, seen) });
    await expect(api.deleteFile("a/b.sql")).resolves.toBeUndefined();
    expect(fillPath("/x/{id}", { id: 1 }, { a: "", b: undefined, c: 0, d: "v w" })).toBe("/x/1?c=0&d=v+w");
  });

  it("the typed openapi-fetch client shares the XSRF and error handling", async () => {
    const seen: Seen[] = [];
    const fetchFn: typeof fetch = async (input) => {
      const req = input as Request;
      seen.push({ url: req.url, method: req.method, headers: req.headers, body: null });
      return new Response(JSON.stringify({ message: "nope", code: "NOT_FOUND", reason: "Not Found" }), {
        status: 404,
        headers: { "Content-Type": "application/json" },
      });
    };
    const api = new RatClient({ baseUrl: "http://h/user/a/", fetch: fetchFn, xsrf: () => "x1" });
    const err = await api.http.typed.POST("/rat/api/v1/namespaces", { body: { name: "x", description: "" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe("nope");
    expect(seen[0]?.headers.get("X-XSRFToken")).toBe("x1");
    expect(seen[0]?.url).toBe("http://h/user/a/rat/api/v1/namespaces");
  });
});

describe("page config and cookies", () => {
  it("reads the injected JSON config and defaults outside a served page", () => {
    document.body.innerHTML =
      '<script id="rat-config" type="application/json">{"baseUrl":"/user/bob","portalUrl":"/user/bob/rat/","labUrl":"/user/bob/lab","version":"1.2"}</script>';
    expect(readPageConfig()).toEqual({ baseUrl: "/user/bob/", portalUrl: "/user/bob/rat/", labUrl: "/user/bob/lab", version: "1.2" });
    document.body.innerHTML = "";
    expect(readPageConfig().baseUrl).toBe("/");
  });

  it("takes the last _xsrf cookie", () => {
    expect(xsrfToken("a=1; _xsrf=first; b=2; _xsrf=2%7Clast")).toBe("2|last");
    expect(xsrfToken("a=1")).toBeUndefined();
  });
});

describe("line problems", () => {
  it("finds the line in validation messages and in error details", () => {
    const p = problemsFromValidation({
      files: [{ path: "pipeline.sql", errors: ["Jinja syntax error at line 3: x"], warnings: ["no ref"] }],
    });
    expect(p).toEqual([
      { file: "pipeline.sql", line: 3, message: "Jinja syntax error at line 3: x", severity: "error" },
      { file: "pipeline.sql", line: undefined, message: "no ref", severity: "warning" },
    ]);
    const e = new ApiError(400, "Jinja syntax error", "TEMPLATE_ERROR", "", { line: 7 });
    expect(problemFromError(e).line).toBe(7);
    expect(problemFromError(new ApiError(400, "Parser Error\n\nLINE 2:   FROM x", "X")).line).toBe(2);
  });

  it("places a DuckDB error on the source line it quotes, even when the executed SQL has extra lines", () => {
    const msg = "Catalog Error: Table with name nope does not exist!\n\nLINE 3: FROM nope\n             ^";
    expect(locateLine(msg, "SELECT 1 AS a\nFROM nope")).toBe(2);
    expect(locateLine(msg, "SELECT 1\nFROM nope\nUNION ALL SELECT 2\nFROM nope")).toBe(2);
    expect(locateLine("LINE 3: FROM elsewhere", "SELECT 1\nFROM x")).toBe(3);
    expect(locateLine("no line here", "x")).toBeUndefined();
  });
});

/** A scripted EventSource: tests push events and errors. */
class FakeES {
  static all: FakeES[] = [];
  url: string;
  listeners = new Map<string, ((ev: Event) => void)[]>();
  closed = false;
  constructor(url: string) {
    this.url = url;
    FakeES.all.push(this);
  }
  addEventListener(name: string, fn: (ev: Event) => void): void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), fn]);
  }
  emit(name: string, data?: unknown): void {
    const ev = data === undefined ? new Event(name) : new MessageEvent(name, { data: JSON.stringify(data) });
    for (const fn of this.listeners.get(name) ?? []) fn(ev);
  }
  close(): void {
    this.closed = true;
  }
}

describe("followRunLog", () => {
  it("reconnects after the last sequence number, skips replays, stops on status", () => {
    FakeES.all = [];
    const timers: (() => void)[] = [];
    const lines: number[] = [];
    const states: string[] = [];
    let final = "";
    followRunLog(
      {
        url: (after) => `/logs?after=${after}`,
        EventSourceImpl: FakeES as unknown as typeof EventSource,
        setTimer: (fn) => timers.push(fn),
        clearTimer: () => undefined,
      },
      {
        onLog: (l) => lines.push(l.seq),
        onStatus: (s) => (final = s.status),
        onState: (s) => states.push(s.kind),
      },
    );
    const first = FakeES.all[0] as FakeES;
    expect(first.url).toBe("/logs?after=0");
    first.emit("open");
    first.emit("log", { seq: 1, level: "info", message: "a", timestamp: "" });
    first.emit("log", { seq: 2, level: "info", message: "b", timestamp: "" });
    first.emit("error");
    expect(first.closed).toBe(true);
    expect(timers).toHaveLength(1);
    timers[0]?.();
    const second = FakeES.all[1] as FakeES;
    expect(second.url).toBe("/logs?after=2");
    second.emit("log", { seq: 2, level: "info", message: "b", timestamp: "" });
    second.emit("log", { seq: 3, level: "error", message: "c", timestamp: "" });
    second.emit("status", { status: "success", error: null, rows_written: 1 });
    expect(lines).toEqual([1, 2, 3]);
    expect(final).toBe("success");
    expect(second.closed).toBe(true);
    expect(states).toEqual(["connecting", "live", "reconnecting", "connecting", "closed"]);
  });

  it("backs off exponentially up to 30 s and gives up after maxAttempts", () => {
    expect([1, 2, 3, 5, 6, 10].map(backoff)).toEqual([1000, 2000, 4000, 16000, 30000, 30000]);
    FakeES.all = [];
    const timers: (() => void)[] = [];
    let last = "";
    followRunLog(
      { url: () => "/l", maxAttempts: 2, EventSourceImpl: FakeES as unknown as typeof EventSource, setTimer: (fn) => timers.push(fn) },
      { onLog: () => undefined, onState: (s) => (last = s.kind === "closed" ? s.reason : s.kind) },
    );
    for (let i = 0; i < 3; i += 1) {
      FakeES.all[i]?.emit("error");
      timers[i]?.();
    }
    expect(last).toBe("gave-up");
    expect(FakeES.all).toHaveLength(3);
  });
});
