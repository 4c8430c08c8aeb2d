import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The built files are embedded in the `palaver` binary and served from `/`.
// `npm run dev` proxies the API and the socket to a locally running server.
export default defineConfig({
  base: "/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8099",
      "/ws": { target: "ws://127.0.0.1:8099", ws: true },
      "/healthz": "http://127.0.0.1:8099",
    },
  },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
