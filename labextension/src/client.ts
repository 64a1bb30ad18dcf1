import { ServerConnection } from "@jupyterlab/services";
import { RatClient, type PageConfig } from "@rat/client";

/** The RAT client inside JupyterLab: every call goes through `ServerConnection.makeRequest`, so it carries
 * Lab's token and XSRF handling (the portal's cookie/XSRF logic is not needed here). */
export function makeRatClient(settings: ServerConnection.ISettings = ServerConnection.makeSettings()): RatClient {
  const fetchThroughLab = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    if (input instanceof Request) {
      const body = input.method === "GET" || input.method === "HEAD" ? undefined : await input.text();
      return ServerConnection.makeRequest(input.url, { method: input.method, headers: input.headers, body }, settings);
    }
    return ServerConnection.makeRequest(String(input), init ?? {}, settings);
  };
  return new RatClient({ baseUrl: settings.baseUrl, fetch: fetchThroughLab, xsrf: () => undefined });
}

/** What the shared pages read from the portal's injected config, derived from Lab's own settings. */
export function labPageConfig(settings: ServerConnection.ISettings = ServerConnection.makeSettings()): PageConfig {
  const baseUrl = settings.baseUrl.endsWith("/") ? settings.baseUrl : `${settings.baseUrl}/`;
  return { baseUrl, portalUrl: `${baseUrl}rat/`, labUrl: `${baseUrl}lab`, version: "lab" };
}
