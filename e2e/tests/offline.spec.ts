/**
 * Issue #15: an outage is plain to see — a banner with a countdown and "Retry now", presence
 * greyed — and the page is live again soon after the server returns.
 */
import path from "node:path";
import { Person, Server, expect, screenshotDir, test } from "./fixtures";

test("an outage shows a banner and greys presence; the page goes live again by itself", async ({ browser }) => {
  const server = new Server();
  await server.start();
  try {
    const alice = await Person.open(browser, server, "alice", { viewport: { width: 1280, height: 800 } });
    await alice.signInAsGuest();
    await alice.openRoom("General");
    const banner = alice.page.getByTestId("connection-banner");
    const dot = alice.page.getByTestId("online-count").locator(".dot");
    const colour = () => dot.evaluate((e) => getComputedStyle(e).backgroundColor);
    await expect(alice.page.getByTestId("online-count")).toContainText("1 online");
    const green = await colour();
    await expect(banner).toHaveCount(0);

    await server.stop();
    await expect(banner).toBeVisible();
    await expect(banner).toContainText("Offline");
    await expect(banner).toContainText(/reconnecting/);
    await expect(banner.getByRole("button", { name: "Retry now" })).toBeVisible();
    await expect.poll(colour).not.toBe(green);
    await alice.page.screenshot({ path: path.join(screenshotDir, "desktop-offline.png") });

    // Back by itself: the retries keep coming (fast at first, never more than 30 s apart).
    await server.start();
    await expect.poll(() => alice.connectionState(), { timeout: 40_000 }).toBe("live");
    await expect(banner).toHaveCount(0);
    await expect.poll(colour).toBe(green);

    await alice.send("back again");
    await expect(alice.message("back again")).toHaveAttribute("data-state", "sent");
    await alice.close();
  } finally {
    await server.stop();
    server.dispose();
  }
});
