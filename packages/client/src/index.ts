export { RatClient, type PipelineKey } from "./client";
export { ApiError, lineOf, locateLine, problemFromError, problemsFromValidation, type LineProblem } from "./errors";
export { Http, fillPath, type ApiPath, type HttpOptions, type Query, type RequestOptions } from "./http";
export { readPageConfig, CONFIG_ELEMENT_ID, type PageConfig } from "./config";
export { followRunLog, backoff, type LogStreamHandlers, type LogStreamOptions, type StreamState } from "./sse";
export { xsrfToken } from "./xsrf";
export * from "./models";
export type { paths, components } from "./schema";
