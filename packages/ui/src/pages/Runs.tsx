import { Placeholder } from "./Placeholder";

export function Runs() {
  return <Placeholder title="Runs" />;
}
