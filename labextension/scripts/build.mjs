// Runs the Python `jupyter-builder` CLI (from jupyter_builder, which comes with JupyterLab 4.6): found on PATH
// (a wheel build's environment, an activated venv) or in the repository's .venv, so `npm run build` works from a
// plain shell too. Usage: node scripts/build.mjs [--development]
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeComponentsCss } from "./components-css.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "..");
const exe = process.platform === "win32" ? "jupyter-builder.exe" : "jupyter-builder";
const dirs = [...(process.env.PATH ?? "").split(delimiter), resolve(pkg, "..", ".venv", "bin")];
const builder = dirs.map((d) => join(d, exe)).find((p) => p && existsSync(p));
if (!builder) {
  console.error("jupyter-builder not found: install JupyterLab >= 4.6 (pip install -e '.[dev]') or jupyter-builder");
  process.exit(1);
}
writeComponentsCss(resolve(pkg, "..", "packages", "ui", "src", "theme.css"), join(pkg, "style", "components.css"));
const args = ["build", ...(process.argv.includes("--development") ? ["--development", "True"] : []), pkg];
const r = spawnSync(builder, args, { stdio: "inherit" });
if (r.status === 0) {
  // install.json tells `jupyter labextension list` which Python package ships the extension
  copyFileSync(join(pkg, "install.json"), resolve(pkg, "..", "rat_jupyter", "labextension", "install.json"));
}
process.exit(r.status ?? 1);
