import { ReactWidget } from "@jupyterlab/apputils";
import type { RatClient } from "@rat/client";
import { RunningRuns } from "./running";

/** The status bar item: the count of active runs, opening the runs panel on a click. */
export class RunsStatusItem extends ReactWidget {
  constructor(private readonly api: RatClient, private readonly onOpen: () => void, private readonly everyMs = 4000) {
    super();
    this.addClass("rat-lab-status-item");
  }

  protected render(): JSX.Element {
    return <RunningRuns api={this.api} onOpen={this.onOpen} everyMs={this.everyMs} />;
  }
}
