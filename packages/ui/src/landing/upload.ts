/**
 * Multipart upload with progress. fetch() cannot report upload progress in Chromium without streaming
 * request bodies (which need HTTP/2), so this uses XMLHttpRequest; errors become `ApiError` with the
 * server's message like every other call.
 */
import { ApiError, xsrfToken } from "@rat/client";

export interface UploadProgress {
  loaded: number;
  total: number;
}

export function uploadFile<T>(url: string, file: File, onProgress: (p: UploadProgress) => void,
  signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    const token = xsrfToken();
    if (token) xhr.setRequestHeader("X-XSRFToken", token);
    xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    xhr.onload = () => {
      let body: unknown = xhr.responseText;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        // not JSON: keep the text for the error message
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress({ loaded: file.size, total: file.size });
        resolve(body as T);
        return;
      }
      reject(errorFrom(xhr.status, xhr.statusText, body));
    };
    xhr.onerror = () => reject(ApiError.network(new Error("the upload was interrupted")));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

export function errorFrom(status: number, statusText: string, body: unknown): ApiError {
  const reason = statusText || `HTTP ${status}`;
  if (typeof body === "object" && body !== null) {
    const b = body as Record<string, unknown>;
    return new ApiError(status, typeof b.message === "string" && b.message ? b.message : reason,
      typeof b.code === "string" ? b.code : `HTTP_${status}`, typeof b.reason === "string" ? b.reason : reason, b.details);
  }
  const text = typeof body === "string" && body.trim() ? body.trim().slice(0, 500) : reason;
  return new ApiError(status, text, `HTTP_${status}`, reason);
}
