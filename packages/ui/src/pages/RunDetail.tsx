import { Placeholder } from "./Placeholder";

export function RunDetail() {
  return <Placeholder title="RunDetail" />;
}
