import type { Contents, ServerConnection } from "@jupyterlab/services";
import { ApiError, problemFromError, type LineProblem, type RatClient, type StoredFile } from "@rat/client";
import { Signal, type ISignal } from "@lumino/signaling";
import { DRIVE_NAME, mimeOf } from "./paths";

/** The part of the RAT client the drive uses (a fake in unit tests). */
export type DriveClient = Pick<RatClient, "listNamespaces" | "listFiles" | "readFile" | "writeFile" | "deleteFile">
  & { http: Pick<RatClient["http"], "url"> };

const EPOCH = new Date(0).toISOString();

function baseName(path: string): string {
  return path.split("/").pop() ?? path;
}

function join(dir: string, name: string): string {
  return dir ? `${dir.replace(/\/+$/, "")}/${name}` : name;
}

function dirModel(path: string, content: Contents.IModel[] | null, modified = EPOCH): Contents.IModel {
  return {
    name: path ? baseName(path) : DRIVE_NAME,
    path,
    type: "directory",
    format: content ? "json" : null,
    mimetype: "",
    content,
    created: modified,
    last_modified: modified,
    writable: true,
    size: undefined,
  };
}

function fileModel(f: { path: string; size: number; modified: string }, content: string | null): Contents.IModel {
  return {
    name: baseName(f.path),
    path: f.path,
    type: "file",
    format: content === null ? null : "text",
    mimetype: mimeOf(f.path),
    content,
    created: f.modified,
    last_modified: f.modified,
    writable: true,
    size: f.size,
  };
}

/** An error JupyterLab shows in its dialogs: the server's message, with the line when it names one. */
export function driveError(action: string, path: string, error: unknown): Error {
  if (error instanceof ApiError) {
    const p = problemFromError(error, path);
    const where = p.line !== undefined ? ` (line ${p.line})` : "";
    const e = new Error(`${action} ${path}${where}: ${error.message}`);
    (e as Error & { status?: number }).status = error.status;
    return e;
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** The immediate children of `dir` among files listed recursively under it (folders are implicit: they are
 * the path segments of files, as on S3). */
export function childrenOf(dir: string, files: readonly StoredFile[]): Contents.IModel[] {
  const prefix = dir ? `${dir}/` : "";
  const dirs = new Map<string, string>();
  const out: Contents.IModel[] = [];
  for (const f of files) {
    if (!f.path.startsWith(prefix)) continue;
    const rest = f.path.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash < 0) {
      out.push(fileModel(f, null));
    } else {
      const name = rest.slice(0, slash);
      const prev = dirs.get(name);
      if (!prev || prev < f.modified) dirs.set(name, f.modified);
    }
  }
  const folders = [...dirs].map(([name, modified]) => dirModel(prefix + name, null, modified));
  const byName = (a: Contents.IModel, b: Contents.IModel): number => a.name.localeCompare(b.name);
  return [...folders.sort(byName), ...out.sort(byName)];
}

/** The platform's storage (local or S3) as a JupyterLab contents drive over the RAT files API: namespaces at
 * the root, pipeline, test, config and landing files below. Saving a pipeline file goes through the API's
 * validation, so a template error refuses the save with the server's message and line. */
export class RatDrive implements Contents.IDrive {
  readonly name = DRIVE_NAME;
  /** The problem of the last refused save per path (with its line when the server names one), so the editor
   * can put the cursor on it; cleared by the next successful save. */
  readonly problems = new Map<string, LineProblem>();
  private readonly changed = new Signal<this, Contents.IChangedArgs>(this);
  private disposed = false;

  constructor(private readonly api: DriveClient, readonly serverSettings: ServerConnection.ISettings) {}

  get fileChanged(): ISignal<this, Contents.IChangedArgs> {
    return this.changed;
  }
  get isDisposed(): boolean {
    return this.disposed;
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Signal.clearData(this);
  }

  private clean(path: string): string {
    return path.replace(/^\/+|\/+$/g, "");
  }

  private async listDir(path: string): Promise<Contents.IModel[]> {
    const { files } = await this.api.listFiles(`${path}/`);
    return childrenOf(path, files);
  }

  async get(localPath: string, options?: Contents.IFetchOptions): Promise<Contents.IModel> {
    const path = this.clean(localPath);
    const wantContent = options?.content !== false;
    if (!path) {
      const { namespaces } = await this.api.listNamespaces();
      const content = namespaces.map((n) => dirModel(n.name, null, n.created_at ?? EPOCH));
      return dirModel("", wantContent ? content : null);
    }
    const looksLikeFile = options?.type === "file" || (options?.type !== "directory" && baseName(path).includes("."));
    if (path.includes("/") && looksLikeFile) {
      try {
        const f = await this.api.readFile(path);
        return fileModel(f, wantContent ? f.content : null);
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404 || options?.type === "file") throw driveError("Could not open", path, e);
      }
    }
    let children: Contents.IModel[];
    try {
      children = await this.listDir(path);
    } catch (e) {
      throw driveError("Could not list", path, e);
    }
    if (children.length === 0 && path.includes("/") && options?.type !== "directory") {
      try {
        const f = await this.api.readFile(path);
        return fileModel(f, wantContent ? f.content : null);
      } catch {
        // not a file either: an empty (or missing) folder
      }
    }
    return dirModel(path, wantContent ? children : null);
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    return this.api.http.url("/rat/api/v1/files/{path}", { path: this.clean(localPath) }, { download: 1 });
  }

  async newUntitled(options: Contents.ICreateOptions = {}): Promise<Contents.IModel> {
    const dir = this.clean(options.path ?? "");
    if (options.type === "directory") {
      throw new Error("Folders in RAT storage appear when a file is saved in them: create a file instead.");
    }
    if (!dir) throw new Error("Files in RAT storage live in a namespace: open a namespace folder first.");
    const ext = options.ext ? (options.ext.startsWith(".") ? options.ext : `.${options.ext}`) : ".sql";
    const taken = new Set((await this.listDir(dir)).map((m) => m.name));
    let name = `untitled${ext}`;
    for (let i = 1; taken.has(name); i++) name = `untitled${i}${ext}`;
    const model = await this.save(join(dir, name), { type: "file", format: "text", content: "" });
    this.changed.emit({ type: "new", oldValue: null, newValue: model });
    return model;
  }

  async delete(localPath: string): Promise<void> {
    const path = this.clean(localPath);
    try {
      const { files } = path.includes("/") ? await this.api.listFiles(`${path}/`) : { files: [] as StoredFile[] };
      const targets = files.length ? files.map((f) => f.path) : [path];
      for (const p of targets) await this.api.deleteFile(p);
    } catch (e) {
      throw driveError("Could not delete", path, e);
    }
    this.changed.emit({ type: "delete", oldValue: { path }, newValue: null });
  }

  async rename(oldLocalPath: string, newLocalPath: string): Promise<Contents.IModel> {
    const from = this.clean(oldLocalPath);
    const to = this.clean(newLocalPath);
    try {
      const f = await this.api.readFile(from);
      const written = await this.api.writeFile(to, f.content);
      await this.api.deleteFile(from);
      const model = fileModel(written, null);
      this.changed.emit({ type: "rename", oldValue: { path: from }, newValue: model });
      return model;
    } catch (e) {
      throw driveError("Could not rename", from, e);
    }
  }

  async save(localPath: string, options: Partial<Contents.IModel> = {}): Promise<Contents.IModel> {
    const path = this.clean(localPath);
    if (options.type === "directory") {
      throw new Error("Folders in RAT storage appear when a file is saved in them: create a file instead.");
    }
    if (options.type === "notebook" || options.format === "base64") {
      throw new Error("RAT storage holds pipeline and data files as text; save notebooks in the local drive.");
    }
    const content = typeof options.content === "string" ? options.content : "";
    let written;
    try {
      written = await this.api.writeFile(path, content);
    } catch (e) {
      if (e instanceof ApiError) this.problems.set(path, problemFromError(e, path));
      throw driveError("Could not save", path, e);
    }
    this.problems.delete(path);
    const model = fileModel(written, null);
    this.changed.emit({ type: "save", oldValue: null, newValue: model });
    return model;
  }

  async copy(localPath: string, toLocalDir: string): Promise<Contents.IModel> {
    const from = this.clean(localPath);
    const dir = this.clean(toLocalDir);
    const f = await this.api.readFile(from);
    const name = baseName(from);
    const dot = name.lastIndexOf(".");
    const copyName = dot > 0 ? `${name.slice(0, dot)}-Copy${name.slice(dot)}` : `${name}-Copy`;
    const written = await this.api.writeFile(join(dir, copyName), f.content);
    const model = fileModel(written, null);
    this.changed.emit({ type: "new", oldValue: null, newValue: model });
    return model;
  }

  // The API keeps versions per pipeline (publish/rollback), not per-file checkpoints: Lab's checkpoints are
  // acknowledged without a copy, and "revert" is done through publish/rollback instead.
  async createCheckpoint(_localPath: string): Promise<Contents.ICheckpointModel> {
    return { id: "rat-draft", last_modified: new Date().toISOString() };
  }
  async listCheckpoints(_localPath: string): Promise<Contents.ICheckpointModel[]> {
    return [];
  }
  async restoreCheckpoint(_localPath: string, _checkpointID: string): Promise<void> {
    throw new Error("RAT files have no checkpoints: roll the pipeline back to a published version instead.");
  }
  async deleteCheckpoint(_localPath: string, _checkpointID: string): Promise<void> {
    return;
  }
}
