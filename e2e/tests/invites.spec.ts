import { Person, expect, test, uniqueName } from "./fixtures";

// Several people and a busy machine: more than the default minute.
test.describe.configure({ timeout: 120_000 });

test("an invite link brings carol into a private room she could not see before", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const carol = await Person.open(browser, server, "carol");
  await alice.signInAsGuest();
  const room = uniqueName("Book Club");
  await alice.createRoom(room, "Private", "Chapters and tea");
  await expect(alice.page.locator("#room-title .lock")).toBeVisible();
  await alice.send("Welcome to the club");
  await expect(alice.message("Welcome to the club")).toHaveAttribute("data-state", "sent");
  const roomId = await alice.roomId(room);

  // Before the invite: carol doesn't see it anywhere, and the API says it doesn't exist.
  await carol.signInAsGuest();
  await expect(carol.page.locator(`[data-testid=room-row][data-room-name="${room}"]`)).toHaveCount(0);
  expect((await carol.page.request.get(`/api/rooms/${roomId}`)).status()).toBe(404);

  // Alice, the owner, makes a link from the room menu.
  await alice.page.getByRole("button", { name: "Room options" }).click();
  await alice.page.getByRole("menuitem", { name: "Invite people…" }).click();
  const inviteDialog = alice.page.getByRole("dialog", { name: `Invite people to ${room}` });
  await inviteDialog.getByRole("button", { name: "Create link" }).click();
  const link = await inviteDialog.getByTestId("invite-link").inputValue();
  expect(link).toMatch(new RegExp(`^${server.url}/invite/[A-Za-z0-9_-]+$`));
  await inviteDialog.getByRole("button", { name: "Done" }).click();

  // Carol opens it: the room's name, a Join button, and she lands in the room.
  await carol.page.goto(link);
  const join = carol.page.getByRole("dialog", { name: `Join ${room}` });
  await expect(join.getByTestId("invite-room")).toHaveText(room);
  await join.getByRole("button", { name: "Join" }).click();
  await expect(carol.page.locator("#room-title")).toContainText(room);
  await expect(carol.message("Welcome to the club")).toBeVisible();
  await expect(carol.page).toHaveURL(`${server.url}/`);
  await carol.send("Thanks for having me");
  await expect(alice.message("Thanks for having me")).toBeVisible();

  // Frank isn't signed in: he signs in first, then the invitation is there.
  const frank = await Person.open(browser, server, "frank");
  await frank.page.goto(link);
  await expect(frank.page.getByTestId("invite-hint")).toBeVisible();
  await frank.page.getByLabel("Username").fill(frank.name);
  await frank.page.getByRole("button", { name: "Continue as guest" }).click();
  await frank.page.getByRole("dialog", { name: `Join ${room}` }).getByRole("button", { name: "Join" }).click();
  await expect(frank.page.locator("#room-title")).toContainText(room);
  await expect(frank.message("Thanks for having me")).toBeVisible();
  await frank.close();
  await alice.close();
  await carol.close();
});

test("a used-up invite says so clearly", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const dave = await Person.open(browser, server, "dave");
  const erin = await Person.open(browser, server, "erin");
  await alice.signInAsGuest();
  const room = uniqueName("Quiet");
  await alice.createRoom(room, "Private");
  await alice.page.getByRole("button", { name: "Room options" }).click();
  await alice.page.getByRole("menuitem", { name: "Invite people…" }).click();
  const inviteDialog = alice.page.getByRole("dialog", { name: `Invite people to ${room}` });
  await inviteDialog.getByLabel("Can be used by").selectOption("1");
  await inviteDialog.getByRole("button", { name: "Create link" }).click();
  const link = await inviteDialog.getByTestId("invite-link").inputValue();

  await dave.signInAsGuest();
  await dave.page.goto(link);
  await dave.page.getByRole("dialog", { name: `Join ${room}` }).getByRole("button", { name: "Join" }).click();
  await expect(dave.page.locator("#room-title")).toContainText(room);

  await erin.signInAsGuest();
  await erin.page.goto(link);
  await expect(erin.page.getByTestId("invite-problem")).toContainText("expired or has been used up");
  await expect(erin.page.getByRole("button", { name: "Join", exact: true })).toHaveCount(0);

  // Dave leaves the private room: it is gone from his list (he'd need a new invite)…
  await dave.page.getByRole("button", { name: "Room options" }).click();
  await dave.page.getByRole("menuitem", { name: "Leave room" }).click();
  await dave.page.getByRole("dialog", { name: `Leave #${room}?` }).getByRole("button", { name: "Leave" }).click();
  await expect(dave.page.locator(`[data-room-name="${room}"]`)).toHaveCount(0);
  // …while a public room he leaves stays in Browse.
  await dave.openRoom("Random");
  await dave.page.getByRole("button", { name: "Room options" }).click();
  await dave.page.getByRole("menuitem", { name: "Leave room" }).click();
  await dave.page.getByRole("dialog", { name: "Leave #Random?" }).getByRole("button", { name: "Leave" }).click();
  await expect(dave.page.locator('[data-testid=other-rooms] [data-room-name="Random"]')).toBeVisible();
  await alice.close();
  await dave.close();
  await erin.close();
});
