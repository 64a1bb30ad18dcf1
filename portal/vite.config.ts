import { resolve } from "node:path";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Relative asset URLs (`base: "./"`): the server adds <base href="{base_url}rat/">, so one build works under
// any base_url. The output lands inside the Python package, which ships it in the wheel.
export default defineConfig({
  base: "./",
  plugins: [react()],
  resolve: { dedupe: ["react", "react-dom", "react-router-dom"] },
  build: {
    outDir: resolve(__dirname, "../rat_jupyter/portal_static"),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2500,
  },
  server: {
    // `npm run dev` against a running server: RAT_DEV_SERVER=http://127.0.0.1:8888
    proxy: { "/rat/api": process.env.RAT_DEV_SERVER ?? "http://127.0.0.1:8888" },
  },
});
