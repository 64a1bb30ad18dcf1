import { lazy, Suspense, useEffect, type ComponentType, type ReactElement } from "react";
import { useNavigate, useParams } from "react-router-dom";
import type { PipelineKey } from "@rat/client";
import { Loading } from "@rat/ui";

function page<K extends string>(load: () => Promise<Record<K, ComponentType>>, name: K): ReactElement {
  const Page = lazy<ComponentType>(() => load().then((m): { default: ComponentType } => ({ default: m[name] })));
  return (
    <Suspense fallback={<Loading what="Loading the page" />}>
      <Page />
    </Suspense>
  );
}

/** A link to a pipeline inside a panel opens the pipeline's file in the RAT drive (JupyterLab's editor is the
 * pipeline page here) and leaves the panel where it was. */
export function OpenPipelineInDrive({ open }: { open: (k: PipelineKey) => void }) {
  const { ns = "", layer = "", name = "" } = useParams();
  const navigate = useNavigate();
  useEffect(() => {
    open({ ns, layer, name });
    navigate(-1);
  }, [ns, layer, name, open, navigate]);
  return <Loading what={`Opening ${ns}.${layer}.${name}`} />;
}

/** The portal's pages a panel can show, by path (the same paths as the portal's, so links between pages work). */
export const PANEL_ROUTES: readonly { path: string; element: ReactElement }[] = [
  { path: "/", element: page(() => import("@rat/ui/src/pages/Home"), "Home") },
  { path: "/pipelines", element: page(() => import("@rat/ui/src/pages/Pipelines"), "Pipelines") },
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

/** A panel's title from its path. */
export function titleOf(path: string): string {
  const p = path.split("?")[0] ?? "/";
  const parts = p.split("/").filter(Boolean);
  const head = parts[0] ?? "";
  switch (head) {
    case "runs":
      return parts[1] ? `Run ${parts[1].slice(0, 8)}` : "RAT Runs";
    case "query":
      return "RAT Query";
    case "lineage":
      return "RAT Lineage";
    case "explorer":
      return parts.length > 1 ? `Table ${parts.slice(1).join(".")}` : "RAT Explorer";
    case "landing":
      return parts.length > 1 ? `Zone ${parts.slice(1).join(".")}` : "RAT Landing";
    case "schedules":
      return "RAT Schedules";
    case "settings":
      return "RAT Settings";
    case "pipelines":
      return "RAT Pipelines";
    default:
      return "RAT";
  }
}
