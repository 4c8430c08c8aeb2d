import { Person, expect, test } from "./fixtures";

// Several people and a busy machine: more than the default minute.
test.describe.configure({ timeout: 120_000 });

test("alice opens a DM with bob from New message, and they chat", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await alice.signInAsGuest();
  await bob.signInAsGuest();

  // The people picker finds bob by a prefix of his name.
  await alice.page.getByRole("button", { name: "New message", exact: true }).click();
  const picker = alice.page.getByRole("dialog", { name: "New message" });
  await picker.getByLabel("Find people").fill(bob.name.slice(0, 6));
  await picker.locator(`[data-testid=person-option][data-username="${bob.name}"]`).click();
  await expect(picker.getByRole("checkbox", { checked: true })).toHaveCount(1);
  await picker.getByRole("button", { name: "Start conversation" }).click();

  // Alice lands in the conversation, named after bob (not "alice, bob").
  await expect(alice.page.locator("#room-title")).toHaveText(bob.name);
  await expect(alice.page.locator("#room-title")).toHaveAttribute("data-room-kind", "direct");
  await expect(alice.dmRow(bob.name).getByTestId("room-title")).toHaveText(bob.name);
  await alice.send("Hi bob, just us here");

  // Bob is told about it live: it appears under Direct messages, named after alice.
  await expect(bob.dmRow(alice.name).getByTestId("room-title")).toHaveText(alice.name);
  await bob.dmRow(alice.name).click();
  await expect(bob.page.locator("#room-title")).toHaveText(alice.name);
  await expect(bob.message("Hi bob, just us here")).toBeVisible();
  await bob.send("Hi alice!");
  await expect(alice.message("Hi alice!")).toBeVisible();

  // Opening a DM with the same person again finds the same conversation (with /dm this time).
  await alice.openRoom("General");
  await alice.send(`/dm @${bob.name}`);
  await expect(alice.page.locator("#room-title")).toHaveText(bob.name);
  await expect(alice.message("Hi alice!")).toBeVisible();
  await expect(alice.page.locator("[data-testid=dm-rooms] [data-testid=room-row]")).toHaveCount(1);

  // Nobody else can see it.
  const carol = await Person.open(browser, server, "carol");
  await carol.signInAsGuest();
  const dmId = await alice.page.evaluate(async () => {
    const rooms = (await (await fetch("/api/rooms")).json()) as { id: string; kind: string }[];
    return rooms.find((r) => r.kind === "direct")?.id;
  });
  expect(dmId).toBeTruthy();
  expect((await carol.page.request.get(`/api/rooms/${dmId}`)).status()).toBe(404);
  await expect(carol.page.locator("[data-testid=dm-rooms] [data-testid=room-row]")).toHaveCount(0);
  await alice.close();
  await bob.close();
  await carol.close();
});
