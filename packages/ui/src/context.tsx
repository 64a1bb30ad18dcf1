import { createContext, useContext, type ReactNode } from "react";
import { RatClient, readPageConfig, type PageConfig } from "@rat/client";

interface Rat {
  api: RatClient;
  config: PageConfig;
}

const RatContext = createContext<Rat | null>(null);

/** Both shells provide the client: the portal over fetch + cookie, JupyterLab over ServerConnection. */
export function RatProvider({ api, config, children }: { api?: RatClient; config?: PageConfig; children: ReactNode }) {
  const cfg = config ?? readPageConfig();
  const client = api ?? new RatClient({ baseUrl: cfg.baseUrl });
  return <RatContext.Provider value={{ api: client, config: cfg }}>{children}</RatContext.Provider>;
}

export function useRat(): Rat {
  const rat = useContext(RatContext);
  if (!rat) throw new Error("useRat() outside <RatProvider>");
  return rat;
}

export function useApi(): RatClient {
  return useRat().api;
}
