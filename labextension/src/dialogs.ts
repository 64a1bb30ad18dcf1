import { Dialog, showDialog } from "@jupyterlab/apputils";
import { Widget } from "@lumino/widgets";

export interface FormField {
  name: string;
  label: string;
  value?: string;
  /** A select when given. */
  options?: readonly string[];
  placeholder?: string;
  multiline?: boolean;
}

/** A dialog body of plain labelled inputs (styled by JupyterLab's own dialog CSS) whose value is a record. */
export class FormBody extends Widget implements Dialog.IBodyWidget<Record<string, string>> {
  private readonly inputs = new Map<string, HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>();

  constructor(fields: readonly FormField[]) {
    super();
    this.addClass("rat-lab-form");
    for (const f of fields) {
      const label = document.createElement("label");
      label.className = "rat-lab-form-field";
      const span = document.createElement("span");
      span.textContent = f.label;
      label.appendChild(span);
      let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
      if (f.options) {
        const select = document.createElement("select");
        select.className = "jp-mod-styled";
        for (const o of f.options) {
          const opt = document.createElement("option");
          opt.value = o;
          opt.textContent = o;
          select.appendChild(opt);
        }
        input = select;
      } else if (f.multiline) {
        input = document.createElement("textarea");
        input.className = "jp-mod-styled";
      } else {
        input = document.createElement("input");
        input.className = "jp-mod-styled";
        (input as HTMLInputElement).type = "text";
      }
      input.name = f.name;
      input.setAttribute("aria-label", f.label);
      if (f.placeholder && !(input instanceof HTMLSelectElement)) input.placeholder = f.placeholder;
      if (f.value !== undefined) input.value = f.value;
      label.appendChild(input);
      this.node.appendChild(label);
      this.inputs.set(f.name, input);
    }
  }

  getValue(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, el] of this.inputs) out[k] = el.value.trim();
    return out;
  }

  protected override onAfterAttach(): void {
    const first = this.node.querySelector<HTMLElement>("input, select, textarea");
    first?.focus();
    if (first instanceof HTMLInputElement) first.select();
  }
}

/** Ask for a few values; null when cancelled. */
export async function askForm(title: string, fields: readonly FormField[], accept = "OK"):
  Promise<Record<string, string> | null> {
  const result = await showDialog({
    title,
    body: new FormBody(fields),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: accept })],
    focusNodeSelector: "input, select, textarea",
  });
  return result.button.accept && result.value ? result.value : null;
}

/** A yes/no question; true when confirmed. */
export async function confirm(title: string, body: string, accept = "Delete"): Promise<boolean> {
  const result = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: accept })],
  });
  return result.button.accept;
}

/** The rename dialog: one labelled field holding the current name; the new name, or null when cancelled. */
export async function askNewName(k: { ns: string; layer: string; name: string }): Promise<string | null> {
  const v = await askForm(`Rename ${k.ns}.${k.layer}.${k.name}`, [
    { name: "name", label: "New name", value: k.name, placeholder: "lowercase letters, digits, _" },
  ], "Rename");
  return v?.name ?? null;
}
