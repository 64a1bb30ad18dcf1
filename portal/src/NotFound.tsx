import { Link, useLocation } from "react-router-dom";
import { PageHeader } from "@rat/ui";

export function NotFound() {
  const location = useLocation();
  return (
    <div className="rat-page">
      <PageHeader title="Not found" />
      <p>
        No page at <code>{location.pathname}</code>. <Link to="/">Go home</Link>.
      </p>
    </div>
  );
}
