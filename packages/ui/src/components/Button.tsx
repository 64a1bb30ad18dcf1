import type { ButtonHTMLAttributes } from "react";

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: "default" | "primary" | "danger" | "ghost";
}

/** Square, monospace button. Pass visible text or `aria-label` (icon buttons): every control has a name. */
export function Button({ variant = "default", className = "", type = "button", ...rest }: ButtonProps) {
  const v = variant === "default" ? "" : variant;
  return <button type={type} className={`rat-btn ${v} ${className}`.trim()} {...rest} />;
}
