import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";

/** A labelled input: the label is the control's accessible name. */
export function TextField({ label, ...rest }: { label: string } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <label className="rat-field" htmlFor={id}>
      <span>{label}</span>
      <input id={id} className="rat-input" {...rest} />
    </label>
  );
}

export function TextArea({ label, ...rest }: { label: string } & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const id = useId();
  return (
    <label className="rat-field" htmlFor={id}>
      <span>{label}</span>
      <textarea id={id} className="rat-textarea" {...rest} />
    </label>
  );
}

export function SelectField({
  label,
  children,
  ...rest
}: { label: string; children: ReactNode } & SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId();
  return (
    <label className="rat-field" htmlFor={id}>
      <span>{label}</span>
      <select id={id} className="rat-select" {...rest}>
        {children}
      </select>
    </label>
  );
}
