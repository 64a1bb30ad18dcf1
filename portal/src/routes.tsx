import type { ReactElement } from "react";
import { Placeholder } from "@rat/ui";
import { Home } from "@rat/ui/src/pages/Home";
import { PipelineDetail } from "@rat/ui/src/pages/PipelineDetail";
import { Pipelines } from "@rat/ui/src/pages/Pipelines";
import { RunDetail } from "@rat/ui/src/pages/RunDetail";
import { Runs } from "@rat/ui/src/pages/Runs";

/** Every route of the portal, relative to `{base_url}rat/`. Add a page: a component in
 * packages/ui/src/pages/<Name>.tsx (or a folder of its own), imported here and given its route. */
export const ROUTES: readonly { path: string; element: ReactElement }[] = [
  { path: "/", element: <Home /> },
  { path: "/pipelines", element: <Pipelines /> },
  { path: "/pipelines/:ns/:layer/:name", element: <PipelineDetail /> },
  { path: "/runs", element: <Runs /> },
  { path: "/runs/:id", element: <RunDetail /> },
  { path: "/query", element: <Placeholder title="Query" /> },
  { path: "/lineage", element: <Placeholder title="Lineage" /> },
  { path: "/explorer", element: <Placeholder title="Explorer" /> },
  { path: "/explorer/:ns/:layer/:name", element: <Placeholder title="Table" /> },
  { path: "/landing", element: <Placeholder title="Landing zones" /> },
  { path: "/landing/:ns/:zone", element: <Placeholder title="Landing zone" /> },
  { path: "/schedules", element: <Placeholder title="Schedules" /> },
  { path: "/settings", element: <Placeholder title="Settings" /> },
];
