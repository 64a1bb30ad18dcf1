export function StatusBadge({ status }: { status: string | null | undefined }) {
  const s = status ?? "never";
  return <span className={`rat-badge rat-status-${s}`}>{s}</span>;
}

export function LayerBadge({ layer }: { layer: string }) {
  return <span className={`rat-badge rat-layer-${layer}`}>{layer}</span>;
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div className="rat-muted" role="status" aria-live="polite">
      {what}…
    </div>
  );
}
