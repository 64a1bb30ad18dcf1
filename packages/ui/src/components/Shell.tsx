import { useEffect, useState, type ReactNode } from "react";
import { NavLink } from "react-router-dom";
import { useRat } from "../context";

export const NAV: readonly { to: string; label: string }[] = [
  { to: "/", label: "Home" },
  { to: "/pipelines", label: "Pipelines" },
  { to: "/query", label: "Query" },
  { to: "/runs", label: "Runs" },
  { to: "/lineage", label: "Lineage" },
  { to: "/explorer", label: "Explorer" },
  { to: "/landing", label: "Landing" },
  { to: "/schedules", label: "Schedules" },
  { to: "/settings", label: "Settings" },
];

type Theme = "dark" | "light" | "system";
const THEME_KEY = "rat.theme";

function applyTheme(theme: Theme): void {
  const dark = theme === "dark" || (theme === "system" && !globalThis.matchMedia?.("(prefers-color-scheme: light)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}

export function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem(THEME_KEY) as Theme | null) ?? "dark");
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem(THEME_KEY, theme);
  }, [theme]);
  return [theme, setTheme];
}

/** The standalone portal's frame: sidebar navigation, theme switch, a link back to JupyterLab. */
export function Shell({ children }: { children: ReactNode }) {
  const { config } = useRat();
  const [theme, setTheme] = useTheme();
  return (
    <div className="rat-shell">
      <nav className="rat-nav" aria-label="RAT">
        <NavLink to="/" className="rat-brand" aria-label="RAT home">
          RAT
        </NavLink>
        {NAV.map((n) => (
          <NavLink key={n.to} to={n.to} end={n.to === "/"} className="rat-navlink">
            {n.label}
          </NavLink>
        ))}
        <div className="rat-nav-foot">
          <div className="rat-field">
            <label htmlFor="rat-theme">Theme</label>
            <select id="rat-theme" className="rat-select" value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
              <option value="dark">dark</option>
              <option value="light">light</option>
              <option value="system">system</option>
            </select>
          </div>
          <a href={config.labUrl}>JupyterLab</a>
          <span className="rat-muted">v{config.version}</span>
        </div>
      </nav>
      <main className="rat-main" id="main">
        {children}
      </main>
    </div>
  );
}

export function PageHeader({ title, children }: { title: ReactNode; children?: ReactNode }) {
  return (
    <header className="rat-page-header">
      <h1>{title}</h1>
      <div className="rat-spacer" />
      {children}
    </header>
  );
}
