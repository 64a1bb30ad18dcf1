import { Placeholder } from "./Placeholder";

export function Home() {
  return <Placeholder title="Home" />;
}
