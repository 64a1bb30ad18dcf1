import { Placeholder } from "./Placeholder";

export function PipelineDetail() {
  return <Placeholder title="PipelineDetail" />;
}
