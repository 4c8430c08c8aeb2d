import { Person, expect, test, uniqueName } from "./fixtures";

// Issue #15's kind of polish: creating a room should lead straight into talking in it. Before,
// the dialog waited for the room's history and then handed the focus back to the "Create a room"
// button, so words typed at once went nowhere (and Enter opened the dialog again).
test("a new room takes the first words typed right after Create", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  const name = uniqueName("Fresh");
  await alice.page.getByRole("button", { name: "Create a room" }).click();
  const dialog = alice.page.getByRole("dialog", { name: "Create a room" });
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByRole("button", { name: "Create", exact: true }).click();
  // No waiting for the timeline: the message box has the focus as soon as the dialog is gone.
  await expect(dialog).toBeHidden();
  await expect(alice.page.locator("#composer-input")).toBeFocused();
  await alice.page.keyboard.type("first words in a fresh room");
  await alice.page.keyboard.press("Enter");
  await expect(alice.message("first words in a fresh room")).toBeVisible();
  // Stored, not only shown: bob opens the room and reads it.
  await bob.openRoom(name);
  await expect(bob.message("first words in a fresh room")).toBeVisible();
  await alice.close();
  await bob.close();
});

test("joining a room from Browse lists you among its members at once", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const carol = await Person.open(browser, server, "carol");
  // Wide enough that the people panel is open from the start (before the join is done).
  await carol.page.setViewportSize({ width: 1280, height: 800 });
  await alice.signInAsGuest();
  await carol.signInAsGuest();
  const name = uniqueName("Newcomers");
  await alice.createRoom(name);
  await carol.openRoom(name);
  const people = carol.page.getByTestId("people");
  await expect(people.getByRole("heading")).toContainText("— 2");
  await expect(people).toContainText(carol.name);
  await alice.close();
  await carol.close();
});

test("the owner lets only moderators notify everyone: @room from others mentions nobody", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  const name = uniqueName("Loud");
  await alice.createRoom(name);
  await bob.openRoom(name);
  await bob.send("@room first call");
  await expect(alice.message("first call")).toHaveAttribute("data-mentioned", "true");

  await alice.page.getByRole("button", { name: "Room options" }).click();
  await alice.page.getByRole("menuitem", { name: "Room settings…" }).click();
  const dialog = alice.page.getByRole("dialog", { name: "Room settings" });
  await dialog.getByLabel("Who may notify everyone with @room and @here").selectOption("moderators");
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(dialog).toBeHidden();
  await expect
    .poll(async () => (await bob.page.request.get(`/api/rooms?limit=200`)).json())
    .toEqual(expect.arrayContaining([expect.objectContaining({ name, mention_everyone: "moderators" })]));

  await bob.send("@room second call");
  await expect(alice.message("second call")).toBeVisible();
  await expect(alice.message("second call")).not.toHaveAttribute("data-mentioned", "true");
  await alice.close();
  await bob.close();
});
