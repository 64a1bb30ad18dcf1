import { PAGE_ROUTES, PIPELINE_PATH, page, type PageRoute } from "@rat/ui/src/routes";

/** Every route of the portal, relative to `{base_url}rat/`: the shared pages (packages/ui/src/routes.tsx, where
 * a page is added) and the pipeline editor page, which only the portal shows. */
export const ROUTES: readonly PageRoute[] = [
  ...PAGE_ROUTES,
  { path: PIPELINE_PATH, element: page(() => import("@rat/ui/src/pages/PipelineDetail"), "PipelineDetail") },
];
