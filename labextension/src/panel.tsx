import { ReactWidget } from "@jupyterlab/apputils";
import { Signal, type ISignal } from "@lumino/signaling";
import { useEffect } from "react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router-dom";
import type { PageConfig, PipelineKey, RatClient } from "@rat/client";
import { RatProvider } from "@rat/ui";
import { PAGE_ROUTES, PIPELINE_PATH } from "@rat/ui/src/routes";
import { OpenPipelineInDrive } from "./routes";

function Where({ onChange }: { onChange: (path: string) => void }) {
  const loc = useLocation();
  useEffect(() => onChange(`${loc.pathname}${loc.search}`), [loc.pathname, loc.search, onChange]);
  return null;
}

export interface PanelOptions {
  api: RatClient;
  config: PageConfig;
  path: string;
  openPipeline: (k: PipelineKey) => void;
}

/** One of the portal's pages as a JupyterLab widget: the shared route table under an in-memory router (links
 * between pages stay inside the panel; a pipeline link opens its file in the RAT drive), styled by the
 * `--rat-*` → `--jp-*` mapping of `.rat-lab`. */
export class RatPanel extends ReactWidget {
  private current: string;
  private readonly moved = new Signal<this, string>(this);

  constructor(private readonly options: PanelOptions) {
    super();
    this.current = options.path;
    this.addClass("rat-lab");
    this.addClass("rat-lab-panel");
  }

  /** Where the panel is now (what the layout restorer saves). */
  get path(): string {
    return this.current;
  }
  get pathChanged(): ISignal<this, string> {
    return this.moved;
  }

  private readonly onChange = (path: string): void => {
    if (path === this.current) return;
    this.current = path;
    this.moved.emit(path);
  };

  protected render(): JSX.Element {
    const { api, config, openPipeline } = this.options;
    return (
      <RatProvider api={api} config={config}>
        <MemoryRouter initialEntries={[this.options.path]}>
          <Where onChange={this.onChange} />
          <div className="rat-main">
            <Routes>
              {PAGE_ROUTES.map((r) => (
                <Route key={r.path} path={r.path} element={r.element} />
              ))}
              <Route path={PIPELINE_PATH} element={<OpenPipelineInDrive open={openPipeline} />} />
              <Route path="*" element={<p>No RAT page at this path.</p>} />
            </Routes>
          </div>
        </MemoryRouter>
      </RatProvider>
    );
  }
}
