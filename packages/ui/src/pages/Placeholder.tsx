import { PageHeader } from "../components/Shell";

/** Stands in for a page another change fills in. */
export function Placeholder({ title }: { title: string }) {
  return (
    <div className="rat-page">
      <PageHeader title={title} />
      <p className="rat-muted">This page is not built yet.</p>
    </div>
  );
}
