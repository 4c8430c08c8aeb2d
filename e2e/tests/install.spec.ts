/**
 * Issue #15: Palaver is installable — a valid, linked manifest with icons, a service worker that
 * controls the page — and opens with no network, showing the last view and the outbox, which is
 * sent when the network returns.
 */
import { Person, Server, expect, test, uniqueName } from "./fixtures";

/** Width and height from a PNG's IHDR chunk. */
function pngSize(bytes: Buffer): [number, number] {
  expect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

test("the manifest is linked and valid, with PNG icons of the sizes it names", async ({ browser, server }) => {
  const visitor = await Person.open(browser, server, "visitor");
  await visitor.page.goto("/");
  const href = await visitor.page.locator('link[rel="manifest"]').getAttribute("href");
  expect(href).toBe("/manifest.webmanifest");
  const res = await visitor.page.request.get(href ?? "");
  expect(res.ok()).toBeTruthy();
  expect(res.headers()["content-type"]).toContain("application/manifest+json");
  const manifest = (await res.json()) as {
    name: string;
    short_name: string;
    start_url: string;
    display: string;
    icons: { src: string; sizes: string; type: string; purpose?: string }[];
  };
  expect(manifest.name).toBe("Palaver");
  expect(manifest.short_name).toBeTruthy();
  expect(manifest.start_url).toBe("/");
  expect(manifest.display).toBe("standalone");
  const pngs = manifest.icons.filter((i) => i.type === "image/png");
  expect(pngs.map((i) => `${i.sizes} ${i.purpose ?? "any"}`).sort()).toEqual(["192x192 any", "512x512 any", "512x512 maskable"]);
  for (const icon of pngs) {
    const file = await visitor.page.request.get(icon.src);
    expect(file.ok()).toBeTruthy();
    expect(file.headers()["content-type"]).toBe("image/png");
    const [w, h] = pngSize(await file.body());
    expect(`${w}x${h}`).toBe(icon.sizes);
  }
  await visitor.close();
});

test("the service worker controls the page, which opens offline with its outbox, sent when back", async ({ browser }) => {
  const server = new Server();
  await server.start();
  try {
    const alice = await Person.open(browser, server, "alice");
    await alice.signInAsGuest();
    const room = uniqueName("Offline ");
    await alice.createRoom(room);
    await alice.send("seen before going offline");
    await expect(alice.message("seen before going offline")).toHaveAttribute("data-state", "sent");
    await expect.poll(() => alice.page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
    // The worker has kept this room's newest page (fetched again once it took control).
    const roomId = await alice.roomId(room);
    await expect
      .poll(() =>
        alice.page.evaluate(async (id) => {
          const cache = await caches.open("palaver-api-v1");
          return (await cache.keys()).some((r) => new URL(r.url).pathname === `/api/rooms/${id}/messages`);
        }, roomId),
      )
      .toBe(true);

    // The worker keeps pages as last loaded: load this one again while online, as a last visit.
    await alice.page.reload();
    await expect(alice.message("seen before going offline")).toBeVisible();

    // No network at all (and no server either): the page still opens, on the room as it was.
    await alice.context.setOffline(true);
    await server.stop();
    await alice.page.reload();
    await expect(alice.page.getByTestId("me")).toHaveText(alice.name);
    await expect(alice.page.locator("#room-title")).toContainText(room);
    await expect(alice.message("seen before going offline")).toBeVisible();
    await expect(alice.page.getByTestId("connection-banner")).toContainText("Offline");
    await alice.send("typed with no network");
    await expect(alice.message("typed with no network")).toHaveAttribute("data-state", "pending");
    await alice.page.reload();
    await expect(alice.message("typed with no network")).toHaveAttribute("data-state", "pending");

    // The network returns: the outbox goes out, once.
    await server.start();
    await alice.context.setOffline(false);
    await expect(alice.message("typed with no network")).toHaveAttribute("data-state", "sent", { timeout: 40_000 });
    await expect(alice.page.getByTestId("connection-banner")).toHaveCount(0);
    const history = await alice.serverBodies(room);
    expect(history.filter((b) => b === "typed with no network")).toHaveLength(1);
    await alice.close();
  } finally {
    await server.stop();
    server.dispose();
  }
});
