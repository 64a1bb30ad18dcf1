import { ReactWidget } from "@jupyterlab/apputils";
import { diffLines } from "@rat/ui/src/editor/diff";

/** The file in the editor against the same file in the pipeline's published version, line by line. */
export class DiffPanel extends ReactWidget {
  constructor(private readonly label: string, private readonly published: string, private readonly draft: string) {
    super();
    this.addClass("rat-lab");
    this.addClass("rat-lab-panel");
  }

  protected render(): JSX.Element {
    const lines = diffLines(this.published, this.draft);
    const changed = lines.filter((l) => l.kind !== "same").length;
    return (
      <div className="rat-main">
        <div className="rat-muted" role="status">
          {changed === 0 ? `${this.label}: no change since it was published` : `${this.label}: ${changed} changed lines`}
        </div>
        <pre className="rat-lab-diff" aria-label={`Diff of ${this.label}`}>
          {lines.map((l, i) => (
            <div key={i} className={`rat-lab-diff-${l.kind}`}>
              <span className="rat-lab-diff-no">{l.oldLine ?? ""}</span>
              <span className="rat-lab-diff-no">{l.newLine ?? ""}</span>
              {`${l.kind === "add" ? "+" : l.kind === "del" ? "-" : " "} ${l.text}`}
            </div>
          ))}
        </pre>
      </div>
    );
  }
}
