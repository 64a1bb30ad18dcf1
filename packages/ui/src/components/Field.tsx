import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";

// The label sits next to the control (not around it): a wrapping label would add a select's current option to
// its accessible name ("Namespace demo").

/** A labelled input: the label is the control's accessible name. */
export function TextField({ label, ...rest }: { label: string } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  return (
    <div className="rat-field">
      <label htmlFor={id}>{label}</label>
      <input id={id} className="rat-input" {...rest} />
    </div>
  );
}

export function TextArea({ label, ...rest }: { label: string } & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const id = useId();
  return (
    <div className="rat-field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} className="rat-textarea" {...rest} />
    </div>
  );
}

export function SelectField({
  label,
  children,
  ...rest
}: { label: string; children: ReactNode } & SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId();
  return (
    <div className="rat-field">
      <label htmlFor={id}>{label}</label>
      <select id={id} className="rat-select" {...rest}>
        {children}
      </select>
    </div>
  );
}
