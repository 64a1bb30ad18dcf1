/** Configuration the server injects into the portal page as JSON (never a token: the login cookie authenticates). */
export interface PageConfig {
  /** Jupyter's base URL, e.g. `/user/alice/` (always ends with `/`). */
  baseUrl: string;
  /** The portal's own URL, `{baseUrl}rat/`. */
  portalUrl: string;
  /** JupyterLab's URL, `{baseUrl}lab`. */
  labUrl: string;
  version: string;
}

export const CONFIG_ELEMENT_ID = "rat-config";

/** Read the injected config; outside a served page (dev server, tests) fall back to the document's origin root. */
export function readPageConfig(doc: Document | undefined = globalThis.document): PageConfig {
  const fallback: PageConfig = { baseUrl: "/", portalUrl: "/rat/", labUrl: "/lab", version: "dev" };
  const el = doc?.getElementById(CONFIG_ELEMENT_ID);
  if (!el?.textContent) return fallback;
  try {
    const raw: unknown = JSON.parse(el.textContent);
    if (typeof raw !== "object" || raw === null) return fallback;
    const r = raw as Record<string, unknown>;
    const str = (k: keyof PageConfig): string => (typeof r[k] === "string" ? (r[k] as string) : fallback[k]);
    const baseUrl = str("baseUrl").endsWith("/") ? str("baseUrl") : `${str("baseUrl")}/`;
    return { baseUrl, portalUrl: str("portalUrl"), labUrl: str("labUrl"), version: str("version") };
  } catch {
    return fallback;
  }
}
