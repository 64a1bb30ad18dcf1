import { ReactWidget } from "@jupyterlab/apputils";
import { useEffect, useState } from "react";
import type { RatClient } from "@rat/client";

/** Running runs, polled every few seconds while the page is visible. */
function RunningRuns({ api, onOpen, everyMs }: { api: RatClient; onOpen: () => void; everyMs: number }) {
  const [count, setCount] = useState<number | null>(null);
  useEffect(() => {
    let live = true;
    const poll = async (): Promise<void> => {
      if (document.hidden) return;
      try {
        const [running, queued] = await Promise.all([
          api.listRuns({ status: "running", limit: 1 }),
          api.listRuns({ status: "queued", limit: 1 }),
        ]);
        if (live) setCount(running.total + queued.total);
      } catch {
        if (live) setCount(null);
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), everyMs);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api, everyMs]);
  const text = count === null ? "RAT" : `RAT: ${count} running`;
  return (
    <button className="rat-lab-status" title="Open the RAT runs panel" onClick={onOpen} data-running={count ?? ""}>
      {text}
    </button>
  );
}

export class RunsStatusItem extends ReactWidget {
  constructor(private readonly api: RatClient, private readonly onOpen: () => void, private readonly everyMs = 4000) {
    super();
    this.addClass("rat-lab-status-item");
  }

  protected render(): JSX.Element {
    return <RunningRuns api={this.api} onOpen={this.onOpen} everyMs={this.everyMs} />;
  }
}
