import { describe, expect, it } from "vitest";
import { fireEvent, render, screen } from "@testing-library/react";
import type { LogLine } from "@rat/client";
import { LogViewer, filterLog } from "./LogViewer";

function lines(n: number): LogLine[] {
  return Array.from({ length: n }, (_, i) => ({
    seq: i + 1,
    timestamp: "2026-12-02T00:00:00+00:00",
    level: i % 100 === 99 ? "error" : i % 10 === 0 ? "debug" : "info",
    message: i === 5 ? "Compiled SQL:\nSELECT 1\nFROM t" : `line number ${i + 1}`,
  }));
}

describe("filterLog", () => {
  it("filters by minimum level, errors only and search; splits multi-line messages into rows", () => {
    const all = lines(300);
    const rows = filterLog(all, { minLevel: "debug", errorsOnly: false, search: "" });
    expect(rows).toHaveLength(302); // line 6 has three text lines
    expect(rows[5]).toMatchObject({ first: true, text: "Compiled SQL:" });
    expect(rows[6]).toMatchObject({ first: false, text: "SELECT 1" });
    expect(filterLog(all, { minLevel: "info", errorsOnly: false, search: "" }).some((r) => r.line.level === "debug")).toBe(false);
    const errors = filterLog(all, { minLevel: "debug", errorsOnly: true, search: "" });
    expect(errors.map((r) => r.line.seq)).toEqual([100, 200, 300]);
    expect(filterLog(all, { minLevel: "debug", errorsOnly: false, search: "NUMBER 12" }).map((r) => r.line.seq)).toEqual([
      12, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129,
    ]);
  });
});

describe("LogViewer", () => {
  it("renders only a window of a 10k-line log", () => {
    render(<LogViewer lines={lines(10_000)} height={400} />);
    const log = screen.getByRole("log", { name: "Run log" });
    const rendered = log.querySelectorAll(".rat-log-line").length;
    expect(rendered).toBeGreaterThan(0);
    expect(rendered).toBeLessThan(120);
    expect(screen.getByTestId("log-count").textContent).toBe("10000 lines");
  });

  it("errors only and search narrow the lines and say how many are shown; matches are highlighted", () => {
    render(<LogViewer lines={lines(1000)} height={400} />);
    fireEvent.click(screen.getByLabelText("errors only"));
    expect(screen.getByTestId("log-count").textContent).toBe("showing 10 of 1000 lines");
    fireEvent.click(screen.getByLabelText("errors only"));
    fireEvent.change(screen.getByLabelText("Search log"), { target: { value: "number 77" } });
    expect(screen.getByTestId("log-count").textContent).toBe("showing 11 of 1000 lines");
    const marks = screen.getByRole("log").querySelectorAll("mark");
    expect(marks.length).toBeGreaterThan(0);
    expect(marks[0]?.textContent).toBe("number 77");
  });

  it("renders messages as text, never HTML", () => {
    const evil: LogLine[] = [{ seq: 1, timestamp: "", level: "info", message: "<img src=x onerror=alert(1)>" }];
    render(<LogViewer lines={evil} />);
    const log = screen.getByRole("log");
    expect(log.querySelector("img")).toBeNull();
    expect(log.textContent).toContain("<img src=x onerror=alert(1)>");
  });

  it("the level filter hides lower levels", () => {
    render(<LogViewer lines={lines(100)} />);
    fireEvent.change(screen.getByLabelText("Level"), { target: { value: "warn" } });
    expect(screen.getByTestId("log-count").textContent).toBe("showing 1 of 100 lines");
  });
});
