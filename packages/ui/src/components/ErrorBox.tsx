import { ApiError } from "@rat/client";

/** Shows what the server said: its message first, then its code and HTTP status. Never a generic text. */
export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const e =
    error instanceof ApiError
      ? error
      : new ApiError(0, error instanceof Error ? error.message : String(error), "CLIENT");
  return (
    <div className="rat-error" role="alert">
      <strong>{title ?? "Error"}: </strong>
      <span className="rat-error-message">{e.message}</span>
      <div className="rat-error-code">
        {e.code}
        {e.status ? ` · HTTP ${e.status}` : ""}
      </div>
    </div>
  );
}
