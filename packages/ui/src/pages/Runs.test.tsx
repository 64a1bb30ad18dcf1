import { describe, expect, it } from "vitest";
import { act, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { SWRConfig } from "swr";
import { RatClient } from "@rat/client";
import { RatProvider } from "../context";
import { Runs } from "./Runs";

const run = {
  id: "0123456789abcdef", pipeline_id: "p", namespace: "shop", layer: "silver", name: "orders", status: "failed",
  trigger: "schedule:nightly", version: "3", batch_id: null, created_at: "2026-12-02T00:00:00+00:00",
  started_at: "2026-12-02T00:00:01+00:00", finished_at: "2026-12-02T00:00:04+00:00", duration_ms: 3200,
  rows_written: null, error: "quality test order_id_unique failed", phases: [], attempt: 1, snapshot_id: null,
  owner: null, server_id: null, claimed_at: null, cancel_requested_at: null, publishing_at: null,
  submitted_by: null, depends_on: [],
};

function setHidden(hidden: boolean): void {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
  document.dispatchEvent(new Event("visibilitychange"));
}

describe("Runs page", () => {
  it("shows status, trigger, duration, end time and the error; polls only while the page is visible", async () => {
    let calls = 0;
    const fetchFn: typeof fetch = async () => {
      calls += 1;
      return new Response(JSON.stringify({ runs: [run], total: 1, limit: 200, offset: 0 }), {
        status: 200,
        headers: { "Content-Type": "application/json" },
      });
    };
    setHidden(false);
    render(
      <SWRConfig value={{ provider: () => new Map(), dedupingInterval: 0 }}>
        <RatProvider api={new RatClient({ baseUrl: "/", fetch: fetchFn })} config={{ baseUrl: "/", portalUrl: "/rat/", labUrl: "/lab", version: "t" }}>
          <MemoryRouter>
            <Runs refreshMs={60} />
          </MemoryRouter>
        </RatProvider>
      </SWRConfig>,
    );
    const row = await screen.findByText("01234567");
    const text = row.closest("[role=row]")?.textContent ?? "";
    expect(text).toContain("failed");
    expect(text).toContain("schedule:nightly");
    expect(text).toContain("3.2 s");
    expect(text).toContain("quality test order_id_unique failed");
    await waitFor(() => expect(calls).toBeGreaterThanOrEqual(3), { timeout: 10_000 });

    act(() => setHidden(true));
    await screen.findByText(/paused while hidden/);
    const frozen = calls;
    await new Promise((r) => setTimeout(r, 400));
    expect(calls).toBeLessThanOrEqual(frozen + 1);

    act(() => setHidden(false));
    await waitFor(() => expect(calls).toBeGreaterThan(frozen + 1), { timeout: 10_000 });
  });
});
