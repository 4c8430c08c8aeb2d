import { Person, expect, test, uniqueName } from "./fixtures";

// Several people and a busy machine: more than the default minute.
test.describe.configure({ timeout: 120_000 });

test("a moderator mutes, kicks and bans with slash commands; the target is told", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  const room = uniqueName("Mod Squad");
  await alice.createRoom(room, "Public");
  await bob.openRoom(room);
  await bob.send("hello from bob");
  await expect(alice.message("hello from bob")).toBeVisible();

  // Bad input never leaves the composer.
  await alice.send("/frobnicate now");
  await expect(alice.page.getByTestId("composer-error")).toContainText("Unknown command /frobnicate");
  await expect(alice.composer()).toHaveValue("/frobnicate now");
  await alice.composer().fill("/ban @nobody soon");
  await alice.composer().press("Enter");
  await expect(alice.page.getByTestId("composer-error")).toContainText(`"soon" isn't a duration`);
  await alice.composer().fill("");
  expect(await alice.serverBodies(room)).toEqual(["hello from bob"]);

  // /me renders as an action line.
  await alice.send("/me waves");
  await expect(bob.message("waves").getByTestId("action-author")).toHaveText(alice.name);
  await expect(bob.message("waves")).toHaveClass(/action/);

  // @ autocompletes from the room's members: pick bob with the keyboard.
  await alice.composer().fill("");
  await alice.composer().pressSequentially(`/mute @${bob.name.slice(0, 4)}`);
  const popup = alice.page.getByTestId("slash-popup");
  await expect(popup.getByRole("option", { name: new RegExp(`@${bob.name}`) })).toBeVisible();
  await alice.composer().press("Tab");
  await expect(alice.composer()).toHaveValue(`/mute @${bob.name} `);
  await alice.composer().pressSequentially("10m");
  await alice.composer().press("Enter");
  await expect(alice.composer()).toHaveValue("");
  await expect(alice.notice(`${alice.name} muted ${bob.name} for 10 minutes`)).toBeVisible();
  await expect(bob.notice(`${alice.name} muted ${bob.name} for 10 minutes`)).toBeVisible();

  // A muted person's message is refused, and the composer says why.
  await bob.send("can I still talk?");
  await expect(bob.page.getByTestId("composer-error")).toHaveText("You are muted in this room");

  // Kick: bob's room leaves his list with a notice; alice's timeline says so.
  await alice.send(`/kick @${bob.name}`);
  await expect(bob.toast(`You were removed from ${room}`)).toBeVisible();
  await expect(bob.page.locator(`[data-testid=joined-rooms] [data-room-name="${room}"]`)).toHaveCount(0);
  await expect(alice.notice(`${alice.name} removed ${bob.name}`)).toBeVisible();

  // A public room can be joined again after a kick; a ban ends that.
  await bob.openRoom(room);
  await alice.send(`/ban @${bob.name} 1h`);
  await expect(bob.toast(`You were banned from ${room}`)).toBeVisible();
  await expect(bob.page.locator(`[data-testid=joined-rooms] [data-room-name="${room}"]`)).toHaveCount(0);
  await expect(alice.notice(`${alice.name} banned ${bob.name} for 1 hour`)).toBeVisible();
  const roomId = await alice.roomId(room);
  const read = await bob.page.request.get(`/api/rooms/${roomId}/messages`);
  expect(read.status()).toBe(403);
  expect((await read.json()).error.code).toBe("banned");

  // Lifting both: bob may read (and post) again.
  await alice.send(`/unban @${bob.name}`);
  await expect(alice.notice(`${alice.name} lifted the ban on ${bob.name}`)).toBeVisible();
  await alice.send(`/unmute @${bob.name}`);
  await expect(alice.notice(`${alice.name} unmuted ${bob.name}`)).toBeVisible();
  await alice.send(`/unban @${bob.name}`);
  await expect(alice.page.getByTestId("composer-error")).toHaveText(`@${bob.name} isn't banned here`);
  expect((await bob.page.request.get(`/api/rooms/${roomId}/messages`)).status()).toBe(200);
  await bob.openRoom(room);
  await bob.send("back, and quieter");
  await expect(alice.message("back, and quieter")).toBeVisible();
  await alice.close();
  await bob.close();
});

test("from the people panel: profile card, make moderator, kick with confirmation", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice", { viewport: { width: 1280, height: 800 } });
  const carol = await Person.open(browser, server, "carol");
  await alice.signInAsGuest();
  await carol.signInAsGuest();
  const room = uniqueName("Garden");
  await alice.createRoom(room, "Private");
  // Add by name from the people panel (moderators only).
  const people = alice.page.getByTestId("people");
  await people.getByPlaceholder("Add by username").fill(carol.name);
  await people.getByRole("button", { name: "Add" }).click();
  await expect(people.locator(`[data-testid=member-row][data-username="${carol.name}"]`)).toBeVisible();
  // Carol is let in: the room appears in her list.
  await expect(carol.page.locator(`[data-testid=joined-rooms] [data-room-name="${room}"]`)).toBeVisible();

  await people.locator(`[data-testid=member-row][data-username="${carol.name}"] button`).click();
  const card = alice.page.getByRole("dialog", { name: `${carol.name}'s profile` });
  await expect(card.getByTestId("profile-card")).toContainText(`@${carol.name}`);
  // Mute for 10 minutes, then lift it from the same card.
  await card.getByRole("button", { name: "Mute", exact: true }).click();
  await card.getByLabel("For how long").selectOption("600");
  await card.getByRole("group", { name: "Confirm" }).getByRole("button", { name: "Mute" }).click();
  await expect(alice.notice(`${alice.name} muted ${carol.name} for 10 minutes`)).toBeVisible();
  await card.getByRole("button", { name: "Unmute" }).click();
  await expect(alice.notice(`${alice.name} unmuted ${carol.name}`)).toBeVisible();
  await card.getByRole("button", { name: "Make moderator" }).click();
  await card.getByRole("group", { name: "Confirm" }).getByRole("button", { name: "Make moderator" }).click();
  await expect(card.getByRole("button", { name: "Remove moderator" })).toBeVisible();
  await card.getByRole("button", { name: "Close" }).click();
  await expect(people.locator(`[data-testid=member-row][data-username="${carol.name}"] [data-testid=role-badge]`)).toHaveText("mod");
  await carol.openRoom(room);
  await expect(carol.notice(`${alice.name} made ${carol.name} a moderator`)).toBeVisible();

  await people.locator(`[data-testid=member-row][data-username="${carol.name}"] button`).click();
  await card.getByRole("button", { name: "Kick" }).click();
  await card.getByRole("group", { name: "Confirm" }).getByRole("button", { name: "Remove" }).click();
  await expect(card).toHaveCount(0);
  await expect(carol.toast(`You were removed from ${room}`)).toBeVisible();
  await expect(carol.page.locator(`[data-room-name="${room}"]`)).toHaveCount(0);
  await alice.close();
  await carol.close();
});
