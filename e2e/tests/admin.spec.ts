import path from "node:path";
import { Person, Server, expect, screenshotDir, test, uniqueName } from "./fixtures";

// Several people and a busy machine: more than the default minute.
test.describe.configure({ timeout: 120_000 });

test("the first account of a fresh install is told it is the admin; the second is not", async ({ browser }) => {
  // A server of its own: the worker's shared server may have accounts already.
  const server = new Server();
  await server.start();
  try {
    const first = await Person.open(browser, server, "owner", { viewport: { width: 1280, height: 800 } });
    expect(await first.register(undefined, { keepWelcome: true })).toBe(true);
    const welcome = first.page.getByRole("dialog", { name: "You're the admin of this Palaver" });
    await expect(welcome).toBeVisible();
    await expect(first.page.locator(".me-name")).toContainText("site admin");
    await first.page.screenshot({ path: path.join(screenshotDir, "admin-welcome.png") });
    await welcome.getByRole("button", { name: "Create a room" }).click();
    const create = first.page.getByRole("dialog", { name: "Create a room" });
    const room = uniqueName("Team");
    await create.getByLabel("Name").fill(room);
    await create.getByRole("radio", { name: /^Private/ }).check();
    await create.getByRole("button", { name: "Create", exact: true }).click();
    await expect(first.page.locator("#room-title")).toContainText(room);

    const second = await Person.open(browser, server, "second");
    expect(await second.register()).toBe(false);
    await second.openRoom("General");
    await expect(second.page.getByRole("dialog", { name: "You're the admin of this Palaver" })).toHaveCount(0);
    await expect(second.page.locator(".me-name")).toContainText("member");
    await first.close();
    await second.close();
  } finally {
    await server.stop();
    server.dispose();
  }
});

test("account settings: display name and bio show on the profile card, with local time", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice", { timezoneId: "Asia/Tokyo" });
  const bob = await Person.open(browser, server, "bob");
  await alice.register();
  await bob.signInAsGuest();
  await alice.page.getByRole("button", { name: "Account settings" }).click();
  const settings = alice.page.getByRole("dialog", { name: "Account settings" });
  await settings.getByLabel("Display name").fill("Alice Liddell");
  await settings.getByLabel("About you").fill("Falls down rabbit holes.");
  await expect(settings.getByLabel("Time zone")).toHaveValue("Asia/Tokyo");
  await settings.getByRole("button", { name: "Save profile" }).click();
  await expect(settings.getByRole("status")).toHaveText("Saved.");
  await settings.getByRole("tab", { name: "Sessions" }).click();
  await expect(settings.getByTestId("session")).toContainText(["This browser"]);
  await settings.getByRole("button", { name: "Close" }).click();

  await alice.openRoom("General");
  await alice.send("hello from the settings test");
  await bob.openRoom("General");
  await bob.message("hello from the settings test").getByTestId("author").click();
  const card = bob.page.getByRole("dialog", { name: "Alice Liddell's profile" });
  await expect(card).toContainText("Falls down rabbit holes.");
  await expect(card).toContainText(`@${alice.name}`);
  await expect(card.getByTestId("local-time")).toContainText("Asia/Tokyo");
  // Message from the card opens a DM.
  await card.getByRole("button", { name: "Message" }).click();
  await expect(bob.page.locator("#room-title")).toHaveText("Alice Liddell");
  await alice.close();
  await bob.close();
});

test("the sign-in page tells guests how long their name is kept; a guest can keep it", async ({ browser, server }) => {
  const guest = await Person.open(browser, server, "guest");
  await guest.page.goto("/");
  await expect(guest.page.getByTestId("guest-note")).toContainText("Guest names are kept for");
  await guest.signInAsGuest();
  await guest.page.getByRole("button", { name: "Account settings" }).click();
  const settings = guest.page.getByRole("dialog", { name: "Account settings" });
  await settings.getByRole("tab", { name: "Keep name" }).click();
  await settings.getByLabel("Password").fill("plum-quasar-7-tundra-bells");
  await settings.getByRole("button", { name: "Keep this name" }).click();
  await expect(settings.getByRole("status")).toContainText("is yours now");
  await expect(guest.page.locator(".me-name")).toContainText("member");
  await guest.close();
});
