import { describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, within } from "@testing-library/react";
import { DataGrid, formatCell, typeClass, type GridColumn } from "./DataGrid";

interface Row {
  id: number;
  name: string | null;
  amount: string;
}

const rows: Row[] = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: i % 7 === 0 ? null : `n${i}`, amount: String((i * 37) % 1000) }));
const columns: GridColumn<Row>[] = [
  { id: "id", header: "id", type: "BIGINT" },
  { id: "name", header: "name", type: "VARCHAR" },
  { id: "amount", header: "amount", type: "DECIMAL(12,2)" },
];

describe("DataGrid", () => {
  it("virtualizes 100k rows: only a window is in the DOM, the row count is announced", () => {
    render(<DataGrid label="Result" rows={rows} columns={columns} rowNumbers height={400} />);
    const grid = screen.getByRole("grid", { name: "Result" });
    expect(grid.getAttribute("aria-rowcount")).toBe("100001");
    const bodyRows = grid.querySelectorAll(".rat-grid-row");
    expect(bodyRows.length).toBeGreaterThan(5);
    expect(bodyRows.length).toBeLessThan(80);
  });

  it("colours cells by type and shows NULL", () => {
    render(<DataGrid label="Result" rows={rows.slice(0, 10)} columns={columns} />);
    const first = screen.getAllByRole("row")[1] as HTMLElement;
    const cells = within(first).getAllByRole("gridcell");
    expect(cells[0]?.className).toContain("rat-type-number");
    expect(cells[1]?.textContent).toBe("NULL");
    expect(cells[1]?.className).toContain("rat-type-null");
    expect(cells[2]?.className).toContain("rat-type-number");
  });

  it("sorts numerically by a header click, then descending, then back", () => {
    const few: Row[] = [
      { id: 1, name: "b", amount: "10" },
      { id: 2, name: "a", amount: "9" },
      { id: 3, name: "c", amount: "100" },
    ];
    render(<DataGrid label="R" rows={few} columns={columns} />);
    const amounts = (): string[] =>
      screen.getAllByRole("row").slice(1).map((r) => within(r).getAllByRole("gridcell")[2]?.textContent ?? "");
    fireEvent.click(screen.getByRole("button", { name: "amount" }));
    expect(amounts()).toEqual(["9", "10", "100"]);
    expect(screen.getByRole("columnheader", { name: /amount/ }).getAttribute("aria-sort")).toBe("ascending");
    fireEvent.click(screen.getByRole("button", { name: /amount/ }));
    expect(amounts()).toEqual(["100", "10", "9"]);
    fireEvent.click(screen.getByRole("button", { name: /amount/ }));
    expect(amounts()).toEqual(["10", "9", "100"]);
  });

  it("says so when empty and calls onRowClick", () => {
    const onRowClick = vi.fn();
    const { rerender } = render(<DataGrid label="R" rows={[]} columns={columns} emptyText="Nothing here" />);
    expect(screen.getByText("Nothing here")).toBeTruthy();
    rerender(<DataGrid label="R" rows={rows.slice(0, 3)} columns={columns} onRowClick={onRowClick} />);
    fireEvent.click(screen.getAllByRole("row")[2] as HTMLElement);
    expect(onRowClick).toHaveBeenCalledWith(rows[1]);
  });

  it("maps types and formats values as text", () => {
    expect(typeClass("int64", 1)).toBe("number");
    expect(typeClass("TIMESTAMP WITH TIME ZONE", "x")).toBe("time");
    expect(typeClass("BOOLEAN", true)).toBe("bool");
    expect(typeClass("VARCHAR", null)).toBe("null");
    expect(typeClass(undefined, 3)).toBe("number");
    expect(formatCell({ a: 1 })).toBe('{"a":1}');
    expect(formatCell("<b>x</b>")).toBe("<b>x</b>");
  });
});
