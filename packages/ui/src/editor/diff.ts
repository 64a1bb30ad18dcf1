export interface DiffLine {
  kind: "same" | "add" | "del";
  text: string;
  /** 1-based line in the old / new text. */
  oldLine?: number;
  newLine?: number;
}

/** Line diff by longest common subsequence (pipeline files are small; above 4,000 x 4,000 lines it falls back
 * to "all removed, all added" rather than allocate a huge table). */
export function diffLines(oldText: string, newText: string): DiffLine[] {
  const a = oldText.split("\n");
  const b = newText.split("\n");
  if (a.length * b.length > 16_000_000) {
    return [
      ...a.map((text, i) => ({ kind: "del" as const, text, oldLine: i + 1 })),
      ...b.map((text, i) => ({ kind: "add" as const, text, newLine: i + 1 })),
    ];
  }
  const n = a.length;
  const m = b.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    const row = lcs[i] as Uint32Array;
    const next = lcs[i + 1] as Uint32Array;
    for (let j = m - 1; j >= 0; j -= 1) {
      row[j] = a[i] === b[j] ? (next[j + 1] as number) + 1 : Math.max(next[j] as number, row[j + 1] as number);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ kind: "same", text: a[i] as string, oldLine: i + 1, newLine: j + 1 });
      i += 1;
      j += 1;
    } else if ((lcs[i + 1] as Uint32Array)[j]! >= (lcs[i] as Uint32Array)[j + 1]!) {
      out.push({ kind: "del", text: a[i] as string, oldLine: i + 1 });
      i += 1;
    } else {
      out.push({ kind: "add", text: b[j] as string, newLine: j + 1 });
      j += 1;
    }
  }
  for (; i < n; i += 1) out.push({ kind: "del", text: a[i] as string, oldLine: i + 1 });
  for (; j < m; j += 1) out.push({ kind: "add", text: b[j] as string, newLine: j + 1 });
  return out;
}

/** sha256 hex of a text, as the server hashes published files; undefined where WebCrypto is unavailable
 * (plain-http origins other than localhost). */
export async function sha256Hex(text: string): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  const buf = await subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
