import { defineConfig } from "vitest/config";

// One vitest run for every workspace package; components render in jsdom.
export default defineConfig({
  test: {
    environment: "jsdom",
    include: ["packages/*/src/**/*.test.{ts,tsx}", "portal/src/**/*.test.{ts,tsx}", "labextension/src/**/*.test.{ts,tsx}"],
    setupFiles: ["packages/ui/src/test-setup.ts"],
    // the machine is shared (2 cores): generous limits, so load does not fail a correct test
    testTimeout: 30_000,
  },
});
