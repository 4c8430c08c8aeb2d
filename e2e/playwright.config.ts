import { defineConfig } from "@playwright/test";

/**
 * Browser tests against the real `palaver` binary (PALAVER_BIN, default target/debug/palaver),
 * driving Debian's Chromium: no browser is ever downloaded. Each worker starts its own server
 * on a free port with a fresh data dir (see tests/fixtures.ts).
 */
export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  workers: process.env.E2E_WORKERS ? Number(process.env.E2E_WORKERS) : 2,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    browserName: "chromium",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        // Calls (#13): a generated camera and microphone, and permission prompts answered yes
        // (harmless to the specs that don't call).
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        // E2E_WEB_DIST (tests/fixtures.ts): a page the test runner answered has no address, so
        // Chromium's local network checks would refuse its WebSocket to 127.0.0.1.
        ...(process.env.E2E_WEB_DIST ? ["--disable-features=LocalNetworkAccessChecks"] : []),
      ],
    },
    trace: "off",
    screenshot: "only-on-failure",
    actionTimeout: 10_000,
  },
});
