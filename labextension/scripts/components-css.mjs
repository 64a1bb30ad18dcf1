// The component rules of the shared theme (packages/ui/src/theme.css) without its page-wide parts: inside
// JupyterLab the RAT variables come from style/index.css (mapped to --jp-*), and rules on :root, body, *, a,
// h1… would restyle all of Lab. Keeps every top-level rule whose selectors all name a .rat-* class (and
// @media/@keyframes blocks, filtered the same way).
import { readFileSync, writeFileSync } from "node:fs";

/** Split CSS into top-level blocks: [prelude, body] pairs (comments dropped). */
function blocks(css) {
  const text = css.replace(/\/\*[\s\S]*?\*\//g, "");
  const out = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf("{", i);
    if (open < 0) break;
    const prelude = text.slice(i, open).trim();
    let depth = 1;
    let j = open + 1;
    while (j < text.length && depth > 0) {
      if (text[j] === "{") depth += 1;
      else if (text[j] === "}") depth -= 1;
      j += 1;
    }
    out.push([prelude, text.slice(open + 1, j - 1)]);
    i = j;
  }
  return out;
}

export function componentRules(css) {
  const kept = [];
  for (const [prelude, body] of blocks(css)) {
    if (prelude.startsWith("@keyframes")) {
      kept.push(`${prelude} {${body}}`);
    } else if (prelude.startsWith("@media") || prelude.startsWith("@supports")) {
      const inner = componentRules(body);
      if (inner.trim()) kept.push(`${prelude} {\n${inner}\n}`);
    } else if (!prelude.startsWith("@") && prelude.split(",").every((s) => s.includes(".rat-"))) {
      kept.push(`${prelude} {${body}}`);
    }
  }
  return kept.join("\n");
}

export function writeComponentsCss(from, to) {
  const css = `/* generated from packages/ui/src/theme.css by scripts/components-css.mjs: do not edit */\n` +
    componentRules(readFileSync(from, "utf8")) + "\n";
  writeFileSync(to, css);
}
