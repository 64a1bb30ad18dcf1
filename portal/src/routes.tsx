import { lazy, Suspense, type ComponentType, type ReactElement } from "react";
import { Loading } from "@rat/ui";

/** A page loaded with its route: the first paint downloads the shell and the page in view only (CodeMirror,
 * React Flow and ELK come with the pages that use them). */
function page<K extends string>(load: () => Promise<Record<K, ComponentType>>, name: K): ReactElement {
  const Page = lazy<ComponentType>(() => load().then((m): { default: ComponentType } => ({ default: m[name] })));
  return (
    <Suspense fallback={<Loading what="Loading the page" />}>
      <Page />
    </Suspense>
  );
}

/** Every route of the portal, relative to `{base_url}rat/`. Add a page: a component in
 * packages/ui/src/pages/<Name>.tsx (or a folder of its own), given its route here with `page(import, name)`. */
export const ROUTES: readonly { path: string; element: ReactElement }[] = [
  { path: "/", element: page(() => import("@rat/ui/src/pages/Home"), "Home") },
  { path: "/pipelines", element: page(() => import("@rat/ui/src/pages/Pipelines"), "Pipelines") },
  { path: "/pipelines/:ns/:layer/:name", element: page(() => import("@rat/ui/src/pages/PipelineDetail"), "PipelineDetail") },
  { path: "/runs", element: page(() => import("@rat/ui/src/pages/Runs"), "Runs") },
  { path: "/runs/:id", element: page(() => import("@rat/ui/src/pages/RunDetail"), "RunDetail") },
  { path: "/query", element: page(() => import("@rat/ui/src/query/QueryPage"), "QueryPage") },
  { path: "/lineage", element: page(() => import("@rat/ui/src/lineage/LineagePage"), "LineagePage") },
  { path: "/explorer", element: page(() => import("@rat/ui/src/explorer/ExplorerPage"), "ExplorerPage") },
  { path: "/explorer/:ns/:layer/:name", element: page(() => import("@rat/ui/src/explorer/ExplorerPage"), "TablePage") },
  { path: "/landing", element: page(() => import("@rat/ui/src/landing/LandingPage"), "LandingPage") },
  { path: "/landing/:ns/:zone", element: page(() => import("@rat/ui/src/landing/LandingPage"), "ZonePage") },
  { path: "/schedules", element: page(() => import("@rat/ui/src/schedules/SchedulesPage"), "SchedulesPage") },
  { path: "/settings", element: page(() => import("@rat/ui/src/settings/SettingsPage"), "SettingsPage") },
];
