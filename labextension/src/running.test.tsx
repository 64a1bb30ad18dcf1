import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { RatClient } from "@rat/client";
import { RunningRuns } from "./running";

type Runs = Awaited<ReturnType<RatClient["listRuns"]>>;

describe("the status bar item", () => {
  it("counts the runs running and the runs waiting for a worker", async () => {
    const totals: Record<string, number> = { running: 2, pending: 3, success: 40 };
    const asked: string[] = [];
    const api: Pick<RatClient, "listRuns"> = {
      listRuns: async (query) => {
        const status = String(query?.status ?? "");
        asked.push(status);
        return { runs: [], total: totals[status] ?? 0 } as unknown as Runs;
      },
    };
    render(<RunningRuns api={api} onOpen={() => undefined} everyMs={60_000} />);
    expect(await screen.findByText("RAT: 5 running")).toBeTruthy();
    expect(asked.sort()).toEqual(["pending", "running"]);
  });
});
