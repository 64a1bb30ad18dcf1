import { describe, expect, it, vi } from "vitest";
import type { Dialog } from "@jupyterlab/apputils";

vi.hoisted(() => {
  // lumino's drag-and-drop module needs DragEvent, which jsdom lacks
  const g = globalThis as unknown as { DragEvent?: unknown; MouseEvent: typeof MouseEvent };
  g.DragEvent ??= class extends g.MouseEvent {};
});

/** JupyterLab's dialog, replaced by one that attaches the body, lets the test act on it, then answers. */
const answer = vi.hoisted(() => ({ accept: true, act: (_node: HTMLElement): void => undefined, title: "" }));
vi.mock("@jupyterlab/apputils", () => ({
  Dialog: { cancelButton: () => ({ accept: false }), okButton: (o: object) => ({ accept: true, ...o }),
    warnButton: (o: object) => ({ accept: true, ...o }) },
  showDialog: async (options: { title: string; body: Dialog.IBodyWidget<Record<string, string>> & {
    node: HTMLElement; getValue(): Record<string, string> }; buttons: { label?: string }[] }) => {
    const { Widget } = await import("@lumino/widgets");
    Widget.attach(options.body as unknown as InstanceType<typeof Widget>, document.body);
    answer.title = `${options.title} [${options.buttons.map((b) => b.label ?? "").join("|")}]`;
    answer.act(options.body.node);
    const value = options.body.getValue();
    Widget.detach(options.body as unknown as InstanceType<typeof Widget>);
    return { button: { accept: answer.accept }, value };
  },
}));

const { askNewName } = await import("./dialogs");

describe("the rename dialog", () => {
  const k = { ns: "shop", layer: "silver", name: "orders" };

  it("offers the current name in a field named 'New name', selected, and answers the new one", async () => {
    answer.accept = true;
    answer.act = (node) => {
      const input = node.querySelector<HTMLInputElement>("input[aria-label='New name']");
      expect(input).not.toBeNull();
      expect(input?.value).toBe("orders");
      expect(document.activeElement).toBe(input);
      expect([input?.selectionStart, input?.selectionEnd]).toEqual([0, 6]);
      expect(input?.closest("label")?.textContent).toContain("New name");
      if (input) input.value = "  sales ";
    };
    expect(await askNewName(k)).toBe("sales");
    expect(answer.title).toBe("Rename shop.silver.orders [|Rename]");
  });

  it("answers null when cancelled", async () => {
    answer.accept = false;
    answer.act = () => undefined;
    expect(await askNewName(k)).toBeNull();
  });
});
