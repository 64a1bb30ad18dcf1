import { Placeholder } from "./Placeholder";

export function Pipelines() {
  return <Placeholder title="Pipelines" />;
}
