import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { readPageConfig } from "@rat/client";
import { RatProvider } from "@rat/ui";
import "@rat/ui/src/theme.css";
import { App } from "./App";

const config = readPageConfig();
const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <RatProvider config={config}>
        <App basename={new URL(config.portalUrl, window.location.origin).pathname} />
      </RatProvider>
    </StrictMode>,
  );
}
