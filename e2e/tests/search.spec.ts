import { request } from "@playwright/test";
import path from "node:path";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

/** A room with 130 messages from a seeder; the 5th (far above the first page) holds `needle`. */
async function seededRoom(serverUrl: string, needle: string) {
  const seeder = await request.newContext({ baseURL: serverUrl, extraHTTPHeaders: { Origin: serverUrl } });
  const res = await seeder.post("/api/auth/guest", { data: { username: uniqueName("seed") } });
  expect(res.ok()).toBeTruthy();
  const room = (await (await seeder.post("/api/rooms", { data: { name: uniqueName("Haystack") } })).json()) as {
    id: string;
    name: string;
  };
  for (let i = 1; i <= 130; i++) {
    const body = i === 5 ? needle : `hay bale number ${i}`;
    const posted = await seeder.post(`/api/rooms/${room.id}/messages`, { data: { client_id: `seed-${i}`, body } });
    expect(posted.ok()).toBeTruthy();
  }
  await seeder.dispose();
  return room;
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
  const target = alice.exactMessage(needle);
  await expect(target).toBeVisible();
  await expect(target).toHaveAttribute("data-search-target", "");
  await expect(target).toBeInViewport();
  // In context: its neighbours are loaded around it.
  await expect(alice.exactMessage("hay bale number 4")).toHaveCount(1);
  await expect(alice.exactMessage("hay bale number 6")).toBeVisible();
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
  await expect(bob.exactMessage(needle)).toBeInViewport();
  await expect(bob.exactMessage(needle)).toHaveAttribute("data-search-target", "");
  expect(bob.pageErrors).toEqual([]);
  await bob.close();
});
