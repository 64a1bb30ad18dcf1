import { lazy, Suspense, type ComponentType, type ReactElement } from "react";
import { Loading } from "./components/Status";

/** A route of the shared pages: a path (relative to the shell's base) and the page it shows. */
export interface PageRoute {
  path: string;
  element: ReactElement;
}

/** A page loaded with its route: the first paint downloads the shell and the page in view only (CodeMirror,
 * React Flow and ELK come with the pages that use them). */
export function page<K extends string>(load: () => Promise<Record<K, ComponentType>>, name: K): ReactElement {
  const Page = lazy<ComponentType>(() => load().then((m): { default: ComponentType } => ({ default: m[name] })));
  return (
    <Suspense fallback={<Loading what="Loading the page" />}>
      <Page />
    </Suspense>
  );
}

/** The path of a pipeline's page, which each shell routes its own way (the portal's editor page; JupyterLab
 * opens the pipeline's file in its own editor instead). */
export const PIPELINE_PATH = "/pipelines/:ns/:layer/:name";

/** The pages both shells show, by path: the portal (under `{base_url}rat/`) and JupyterLab's panels (under an
 * in-memory router), so a link from one page to another works in both. Add a page: a component in
 * packages/ui/src/pages/<Name>.tsx (or a folder of its own), given its route here with `page(import, name)`. */
export const PAGE_ROUTES: readonly PageRoute[] = [
  { path: "/", element: page(() => import("./pages/Home"), "Home") },
  { path: "/pipelines", element: page(() => import("./pages/Pipelines"), "Pipelines") },
  { path: "/runs", element: page(() => import("./pages/Runs"), "Runs") },
  { path: "/runs/:id", element: page(() => import("./pages/RunDetail"), "RunDetail") },
  { path: "/query", element: page(() => import("./query/QueryPage"), "QueryPage") },
  { path: "/lineage", element: page(() => import("./lineage/LineagePage"), "LineagePage") },
  { path: "/explorer", element: page(() => import("./explorer/ExplorerPage"), "ExplorerPage") },
  { path: "/explorer/:ns/:layer/:name", element: page(() => import("./explorer/ExplorerPage"), "TablePage") },
  { path: "/landing", element: page(() => import("./landing/LandingPage"), "LandingPage") },
  { path: "/landing/:ns/:zone", element: page(() => import("./landing/LandingPage"), "ZonePage") },
  { path: "/schedules", element: page(() => import("./schedules/SchedulesPage"), "SchedulesPage") },
  { path: "/settings", element: page(() => import("./settings/SettingsPage"), "SettingsPage") },
];
