import { useEffect } from "react";
import { useNavigate, useParams } from "react-router-dom";
import type { PipelineKey } from "@rat/client";
import { Loading } from "@rat/ui";

/** A link to a pipeline inside a panel opens the pipeline's file in the RAT drive (JupyterLab's editor is the
 * pipeline page here) and leaves the panel where it was. */
export function OpenPipelineInDrive({ open }: { open: (k: PipelineKey) => void }) {
  const { ns = "", layer = "", name = "" } = useParams();
  const navigate = useNavigate();
  useEffect(() => {
    open({ ns, layer, name });
    navigate(-1);
  }, [ns, layer, name, open, navigate]);
  return <Loading what={`Opening ${ns}.${layer}.${name}`} />;
}

/** A panel's title from its path. */
export function titleOf(path: string): string {
  const p = path.split("?")[0] ?? "/";
  const parts = p.split("/").filter(Boolean);
  const head = parts[0] ?? "";
  switch (head) {
    case "runs":
      return parts[1] ? `Run ${parts[1].slice(0, 8)}` : "RAT Runs";
    case "query":
      return "RAT Query";
    case "lineage":
      return "RAT Lineage";
    case "explorer":
      return parts.length > 1 ? `Table ${parts.slice(1).join(".")}` : "RAT Explorer";
    case "landing":
      return parts.length > 1 ? `Zone ${parts.slice(1).join(".")}` : "RAT Landing";
    case "schedules":
      return "RAT Schedules";
    case "settings":
      return "RAT Settings";
    case "pipelines":
      return "RAT Pipelines";
    default:
      return "RAT";
  }
}
