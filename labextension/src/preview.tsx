import { ReactWidget } from "@jupyterlab/apputils";
import type { PreviewResult } from "@rat/client";
import { DataGrid, formatCell, type GridColumn } from "@rat/ui";

type Row = PreviewResult["rows"][number];

/** A pipeline's preview rows (what the pipeline would write), in the shared grid. */
export class PreviewPanel extends ReactWidget {
  constructor(private readonly fq: string, private readonly result: PreviewResult) {
    super();
    this.addClass("rat-lab");
    this.addClass("rat-lab-panel");
  }

  protected render(): JSX.Element {
    const r = this.result;
    const columns: GridColumn<Row>[] = r.columns.map((c) => ({
      id: c.name,
      header: c.name,
      type: c.type,
      value: (row: Row) => row[c.name],
      cell: (row: Row) => formatCell(row[c.name]),
    }));
    return (
      <div className="rat-main rat-page">
        <div className="rat-muted" role="status">
          {`Preview of ${this.fq}: ${r.rows.length} of ${r.total_row_count} rows`}
        </div>
        {r.warnings.map((w) => (
          <div key={w} className="rat-lab-warn">{w}</div>
        ))}
        <DataGrid rows={r.rows} columns={columns} label={`Preview of ${this.fq}`} rowNumbers height="calc(100% - 40px)" />
      </div>
    );
  }
}
