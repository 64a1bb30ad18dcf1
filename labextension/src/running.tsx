import { useEffect, useState } from "react";
import type { RatClient } from "@rat/client";

/** Runs running or waiting for a worker (pending), polled every few seconds while the page is visible. */
export function RunningRuns({ api, onOpen, everyMs }: { api: Pick<RatClient, "listRuns">; onOpen: () => void; everyMs: number }) {
  const [count, setCount] = useState<number | null>(null);
  useEffect(() => {
    let live = true;
    const poll = async (): Promise<void> => {
      if (document.hidden) return;
      try {
        const [running, pending] = await Promise.all([
          api.listRuns({ status: "running", limit: 1 }),
          api.listRuns({ status: "pending", limit: 1 }),
        ]);
        if (live) setCount(running.total + pending.total);
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
