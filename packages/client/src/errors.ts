/** Every failed call becomes an ApiError carrying the server's own `message` and `code`, so the UI can always
 * show what the server said (never a generic "something went wrong"). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly reason: string;
  readonly details: unknown;

  constructor(status: number, message: string, code: string, reason = "", details: unknown = undefined) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  /** Build from a response and its (already parsed, possibly absent) body. */
  static from(response: Response, body: unknown): ApiError {
    const reason = response.statusText || `HTTP ${response.status}`;
    if (typeof body === "object" && body !== null) {
      const b = body as Record<string, unknown>;
      const message = typeof b.message === "string" && b.message ? b.message : reason;
      const code = typeof b.code === "string" ? b.code : `HTTP_${response.status}`;
      return new ApiError(response.status, message, code, typeof b.reason === "string" ? b.reason : reason, b.details);
    }
    const text = typeof body === "string" && body.trim() ? body.trim().slice(0, 500) : reason;
    return new ApiError(response.status, text, `HTTP_${response.status}`, reason);
  }

  /** A network failure (server down, connection reset) - still a typed error with a readable message. */
  static network(cause: unknown): ApiError {
    const message = cause instanceof Error ? cause.message : String(cause);
    return new ApiError(0, `could not reach the server: ${message}`, "NETWORK", "Network error");
  }
}

/** A problem at a place in a file: from the validate/save response, a template error's `details.line`, or the
 * `LINE n:` DuckDB prints in a preview error. */
export interface LineProblem {
  file?: string;
  line?: number;
  message: string;
  severity: "error" | "warning";
}

/** The line a message points at ("at line 3", "LINE 3:"), if any. */
export function lineOf(message: string): number | undefined {
  const m = /\bline\s+(\d+)/i.exec(message);
  return m?.[1] ? Number(m[1]) : undefined;
}

/** The line of `source` a DuckDB error points at. DuckDB numbers the lines of the statement it ran, which can
 * differ from the user's file (templating, a wrapping query); it also quotes the offending line
 * (`LINE 3: FROM orders`), so find that text in the source, nearest to the claimed number. */
export function locateLine(message: string, source: string): number | undefined {
  const claimed = lineOf(message);
  const m = /LINE\s+\d+:\s?(.*)/.exec(message);
  const quoted = m?.[1]?.trim();
  if (!quoted) return claimed;
  const lines = source.split("\n");
  let best: number | undefined;
  lines.forEach((text, i) => {
    if (!text.trim() || !(text.includes(quoted) || quoted.includes(text.trim()))) return;
    const n = i + 1;
    if (best === undefined || Math.abs(n - (claimed ?? n)) < Math.abs(best - (claimed ?? best))) best = n;
  });
  return best ?? claimed;
}

interface ValidationLike {
  files?: { path: string; errors: string[]; warnings: string[] }[];
}

/** Problems from a validate response, one per message, with the line when the message names it. */
export function problemsFromValidation(v: ValidationLike): LineProblem[] {
  const out: LineProblem[] = [];
  for (const f of v.files ?? []) {
    for (const message of f.errors) out.push({ file: f.path, line: lineOf(message), message, severity: "error" });
    for (const message of f.warnings) {
      out.push({ file: f.path, line: lineOf(message), message, severity: "warning" });
    }
  }
  return out;
}

/** The problem an error describes (a save refused with a template error carries `details.line`). */
export function problemFromError(error: ApiError, file?: string): LineProblem {
  const d = error.details;
  const fromDetails =
    typeof d === "object" && d !== null && typeof (d as Record<string, unknown>).line === "number"
      ? ((d as Record<string, unknown>).line as number)
      : undefined;
  return { file, line: fromDetails ?? lineOf(error.message), message: error.message, severity: "error" };
}
