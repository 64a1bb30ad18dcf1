import { useEffect, useState } from "react";
import useSWR, { type SWRConfiguration, type SWRResponse } from "swr";
import { ApiError } from "@rat/client";

/** SWR with the error typed as ApiError (a thrown non-ApiError becomes one, so the UI has a message to show). */
export function useData<T>(
  key: string | readonly unknown[] | null,
  fetcher: () => Promise<T>,
  options?: SWRConfiguration<T, ApiError>,
): SWRResponse<T, ApiError> {
  return useSWR<T, ApiError>(
    key,
    async () => {
      try {
        return await fetcher();
      } catch (e) {
        throw toApiError(e);
      }
    },
    { revalidateOnFocus: false, ...options },
  );
}

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(0, e instanceof Error ? e.message : String(e), "CLIENT", "Error");
}

/** True while the document is visible: polling stops when the tab is hidden. */
export function usePageVisible(): boolean {
  const [visible, setVisible] = useState(() => typeof document === "undefined" || !document.hidden);
  useEffect(() => {
    const on = (): void => setVisible(!document.hidden);
    document.addEventListener("visibilitychange", on);
    return () => document.removeEventListener("visibilitychange", on);
  }, []);
  return visible;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} m ${Math.round(s - m * 60)} s`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}
