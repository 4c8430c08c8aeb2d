import { request, type Locator } from "@playwright/test";
import path from "node:path";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

/** A room with `count` messages from a seeder ("hay bale number N"); the `at`th (far above the
 * first page by default) holds `needle`. */
async function seededRoom(serverUrl: string, needle: string, count = 130, at = 5) {
  const seeder = await request.newContext({ baseURL: serverUrl, extraHTTPHeaders: { Origin: serverUrl } });
  const res = await seeder.post("/api/auth/guest", { data: { username: uniqueName("seed") } });
  expect(res.ok()).toBeTruthy();
  const room = (await (await seeder.post("/api/rooms", { data: { name: uniqueName("Haystack") } })).json()) as {
    id: string;
    name: string;
  };
  for (let i = 1; i <= count; i++) {
    const body = i === at ? needle : `hay bale number ${i}`;
    const posted = await seeder.post(`/api/rooms/${room.id}/messages`, { data: { client_id: `seed-${i}`, body } });
    expect(posted.ok()).toBeTruthy();
  }
  await seeder.dispose();
  return room;
}

/** The message of the "In context" panel whose body is exactly `text`. */
function contextMessage(panel: Locator, text: string) {
  const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  return panel.getByTestId("context-message").filter({ has: panel.page().getByTestId("body").filter({ hasText: exact }) });
}

test("search: Ctrl+K, the matched words highlighted, a click lands on the message in its context", async ({ browser, server }) => {
  const needle = "the deploy key is in vault.prod.example.com, ask ops";
  const room = await seededRoom(server.url, needle);
  const alice = await Person.open(browser, server, "alice", { viewport: { width: 1280, height: 800 } });
  await alice.signInAsGuest();
  await alice.openRoom("Random");

  await alice.page.keyboard.press("Control+k");
  const input = alice.page.getByTestId("search-input");
  await expect(input).toBeFocused();
  await input.fill("vault.prod deplo");
  const result = alice.page.getByTestId("search-result");
  await expect(result).toHaveCount(1);
  await expect(result).toContainText(`#${room.name}`);
  await expect(result.locator("mark")).toHaveText(["deploy", "vault.prod"]);
  await alice.page.screenshot({ path: path.join(screenshotDir, "search-results.png") });

  // A query the language can't read says why.
  await input.fill('"unclosed');
  await expect(alice.page.getByTestId("search-error")).toContainText("quote");
  await input.fill("vault.prod deplo");
  await expect(result).toHaveCount(1);

  await result.click();
  await expect(input).toHaveCount(0);
  await expect(alice.page.locator("#room-title")).toContainText(room.name);
  // Far above the room's loaded history: the "In context" panel shows it among its neighbours.
  const panel = alice.page.getByTestId("context-panel");
  await expect(panel.getByTestId("context-room")).toHaveText(`#${room.name}`);
  const target = contextMessage(panel, needle);
  await expect(target).toBeVisible();
  await expect(target).toHaveAttribute("data-search-target", "");
  await expect(target).toBeInViewport();
  await expect(contextMessage(panel, "hay bale number 4")).toHaveCount(1);
  await expect(contextMessage(panel, "hay bale number 6")).toBeVisible();
  await alice.page.screenshot({ path: path.join(screenshotDir, "search-landed.png") });
  expect(alice.pageErrors).toEqual([]);
  await alice.close();
});

test("search on the phone: the header's search button", async ({ browser, server }) => {
  const needle = `phone needle ${uniqueName("n")}`;
  const room = await seededRoom(server.url, needle);
  const bob = await Person.open(browser, server, "bob", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await bob.signInAsGuest();
  await bob.openRoom("Random");
  await bob.page.getByTestId("search-open").click();
  await bob.page.getByTestId("search-input").fill(needle.split(" ")[2]);
  const result = bob.page.getByTestId("search-result");
  await expect(result).toHaveCount(1);
  await bob.page.screenshot({ path: path.join(screenshotDir, "search-phone.png") });
  await result.click();
  await expect(bob.page.locator("#room-title")).toContainText(room.name);
  const target = bob.page.getByTestId("context-panel").locator("[aria-current=true]");
  await expect(target).toContainText(needle);
  await expect(target).toBeInViewport();
  await expect(target).toHaveAttribute("data-search-target", "");
  // On the phone the panel covers the room; closing it goes back to the room.
  await bob.page.getByRole("button", { name: "Close context" }).click();
  await expect(bob.page.getByTestId("context-panel")).toHaveCount(0);
  expect(bob.pageErrors).toEqual([]);
  await bob.close();
});

test("search: a hit 300 messages back opens in context with one request, and pages both ways", async ({ browser, server }) => {
  const needle = `ancient needle ${uniqueName("n")}`;
  const room = await seededRoom(server.url, needle, 300, 3);
  const carol = await Person.open(browser, server, "carol", { viewport: { width: 1280, height: 800 } });
  await carol.signInAsGuest();
  await carol.openRoom("Random");
  // Every history request of the seeded room, from here on.
  const pages: URL[] = [];
  carol.page.on("request", (r) => {
    const url = new URL(r.url());
    if (r.method() === "GET" && url.pathname === `/api/rooms/${room.id}/messages`) pages.push(url);
  });

  await carol.page.keyboard.press("Control+k");
  await carol.page.getByTestId("search-input").fill(needle.split(" ")[2]);
  const result = carol.page.getByTestId("search-result");
  await expect(result).toHaveCount(1);
  await result.click();

  const panel = carol.page.getByTestId("context-panel");
  const target = panel.locator("[aria-current=true]");
  await expect(target).toContainText(needle);
  await expect(target).toHaveAttribute("data-search-target", "");
  await expect(target).toBeInViewport();
  // The window around it: the start of the room and what follows, not the whole history.
  await expect(contextMessage(panel, "hay bale number 1")).toHaveCount(1);
  await expect(contextMessage(panel, "hay bale number 50")).toHaveCount(1);
  await expect(panel.getByTestId("context-message")).toHaveCount(50);
  await expect(panel.getByRole("button", { name: "Older messages" })).toHaveCount(0);
  // The room itself stays on its newest page, live.
  await expect(carol.exactMessage("hay bale number 300")).toBeVisible();
  expect(await carol.page.getByTestId("message").count()).toBeLessThanOrEqual(100);
  expect(pages.filter((u) => u.searchParams.has("before"))).toEqual([]);
  expect(pages.filter((u) => u.searchParams.has("around"))).toHaveLength(1);

  // Paging forward from the window (the button, and scrolling near the end loads on): the
  // room's order with no gap and no repeat.
  await panel.getByRole("button", { name: "Newer messages" }).click();
  await expect(contextMessage(panel, "hay bale number 100")).toHaveCount(1);
  const shown = await panel.getByTestId("context-message").getByTestId("body").allTextContents();
  const expected = Array.from({ length: shown.length }, (_, i) => (i === 2 ? needle : `hay bale number ${i + 1}`));
  expect(shown.map((t) => t.trim())).toEqual(expected);
  expect(pages.filter((u) => u.searchParams.has("after")).length).toBeGreaterThanOrEqual(1);

  // A message sent now reaches the live room while the panel is open.
  await carol.send("still live");
  await expect(carol.exactMessage("still live")).toBeVisible();

  // A hit the room has loaded lands in the room itself, and the panel closes.
  await carol.page.keyboard.press("Control+k");
  await carol.page.getByTestId("search-input").fill('"hay bale number 299"');
  await expect(result).toHaveCount(1);
  await result.click();
  await expect(panel).toHaveCount(0);
  await expect(carol.exactMessage("hay bale number 299")).toHaveAttribute("data-search-target", "");
  expect(carol.pageErrors).toEqual([]);
  await carol.close();
});
