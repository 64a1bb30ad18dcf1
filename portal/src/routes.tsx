import { lazy, Suspense, type ReactElement } from "react";
import { Loading } from "@rat/ui";
import { ExplorerPage, TablePage } from "@rat/ui/src/explorer/ExplorerPage";
import { LandingPage, ZonePage } from "@rat/ui/src/landing/LandingPage";
import { QueryPage } from "@rat/ui/src/query/QueryPage";
import { SchedulesPage } from "@rat/ui/src/schedules/SchedulesPage";
import { SettingsPage } from "@rat/ui/src/settings/SettingsPage";
import { Home } from "@rat/ui/src/pages/Home";
import { PipelineDetail } from "@rat/ui/src/pages/PipelineDetail";
import { Pipelines } from "@rat/ui/src/pages/Pipelines";
import { RunDetail } from "@rat/ui/src/pages/RunDetail";
import { Runs } from "@rat/ui/src/pages/Runs";

// React Flow and its styles load with the Lineage page only
const LineagePage = lazy(() => import("@rat/ui/src/lineage/LineagePage").then((m) => ({ default: m.LineagePage })));

/** Every route of the portal, relative to `{base_url}rat/`. Add a page: a component in
 * packages/ui/src/pages/<Name>.tsx (or a folder of its own), imported here and given its route. */
export const ROUTES: readonly { path: string; element: ReactElement }[] = [
  { path: "/", element: <Home /> },
  { path: "/pipelines", element: <Pipelines /> },
  { path: "/pipelines/:ns/:layer/:name", element: <PipelineDetail /> },
  { path: "/runs", element: <Runs /> },
  { path: "/runs/:id", element: <RunDetail /> },
  { path: "/query", element: <QueryPage /> },
  { path: "/lineage", element: <Suspense fallback={<Loading what="Loading the lineage" />}><LineagePage /></Suspense> },
  { path: "/explorer", element: <ExplorerPage /> },
  { path: "/explorer/:ns/:layer/:name", element: <TablePage /> },
  { path: "/landing", element: <LandingPage /> },
  { path: "/landing/:ns/:zone", element: <ZonePage /> },
  { path: "/schedules", element: <SchedulesPage /> },
  { path: "/settings", element: <SettingsPage /> },
];
