/** Screenshots of issue #9's screens (rooms and DMs, people, commands, invites, settings), light, dark and phone. */
import path from "node:path";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

const shot = (name: string) => path.join(screenshotDir, name);

// Several people and a busy machine: more than the default minute.
test.describe.configure({ timeout: 180_000 });

test("desktop light and dark: DMs, people panel and profile, commands, invite, settings", async ({ browser, server }) => {
  const room = uniqueName("Book Club");
  for (const scheme of ["light", "dark"] as const) {
    const alice = await Person.open(browser, server, "alice", { colorScheme: scheme, viewport: { width: 1280, height: 800 } });
    const bob = await Person.open(browser, server, "bob", { colorScheme: scheme, viewport: { width: 1280, height: 800 } });
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    await alice.createRoom(room, "Private", "Chapters, tea and strong opinions");
    await alice.send("This month: The Left Hand of Darkness");
    await alice.send(`/invite @${bob.name}`);
    await expect(alice.page.locator(`[data-testid=member-row][data-username="${bob.name}"]`)).toBeVisible();
    await bob.openRoom(room);
    await bob.send("Finally! I've wanted to read it for years.");
    await alice.send("/me puts the kettle on");
    await expect(alice.message("puts the kettle on")).toBeVisible();

    // The profile card with the moderator's actions.
    await alice.page.locator(`[data-testid=member-row][data-username="${bob.name}"] button`).click();
    await expect(alice.page.getByTestId("profile-card")).toContainText(`@${bob.name}`);
    await expect(alice.page.getByRole("button", { name: "Ban" })).toBeVisible();
    await alice.page.screenshot({ path: shot(`people-profile-${scheme}.png`) });
    await alice.page.getByRole("button", { name: "Close" }).click();

    // The command popup.
    await alice.composer().fill("/");
    await expect(alice.page.getByTestId("slash-popup")).toBeVisible();
    await alice.page.screenshot({ path: shot(`slash-commands-${scheme}.png`) });
    await alice.composer().fill("");

    // The people picker and a DM.
    await alice.page.getByRole("button", { name: "New message", exact: true }).click();
    const picker = alice.page.getByRole("dialog", { name: "New message" });
    await picker.getByLabel("Find people").fill(bob.name);
    await picker.locator(`[data-testid=person-option][data-username="${bob.name}"]`).click();
    await alice.page.screenshot({ path: shot(`new-message-${scheme}.png`) });
    await picker.getByRole("button", { name: "Start conversation" }).click();
    await expect(alice.page.locator("#room-title")).toHaveText(bob.name);
    await alice.send("Shall I bring the spare copy?");
    await expect(bob.dmRow(alice.name)).toBeVisible();
    await bob.dmRow(alice.name).click();
    await bob.send("Yes please — and biscuits.");
    await expect(alice.message("biscuits")).toBeVisible();
    await alice.page.screenshot({ path: shot(`dm-${scheme}.png`) });

    // An invite link, as the invited person sees it.
    await alice.openRoom(room);
    await alice.page.getByRole("button", { name: "Room options" }).click();
    await alice.page.getByRole("menuitem", { name: "Invite people…" }).click();
    const inviteDialog = alice.page.getByRole("dialog", { name: `Invite people to ${room}` });
    await inviteDialog.getByRole("button", { name: "Create link" }).click();
    const link = await inviteDialog.getByTestId("invite-link").inputValue();
    await alice.page.screenshot({ path: shot(`invite-create-${scheme}.png`) });
    const carol = await Person.open(browser, server, "carol", { colorScheme: scheme, viewport: { width: 1280, height: 800 } });
    await carol.signInAsGuest();
    await carol.page.goto(link);
    await expect(carol.page.getByTestId("invite-room")).toHaveText(room);
    await carol.page.screenshot({ path: shot(`invite-join-${scheme}.png`) });

    // Settings.
    await bob.page.getByRole("button", { name: "Account settings" }).click();
    await expect(bob.page.getByRole("dialog", { name: "Account settings" })).toBeVisible();
    await bob.page.screenshot({ path: shot(`settings-${scheme}.png`) });
    await alice.close();
    await bob.close();
    await carol.close();
  }
});

test("phone: DM, people panel and the command popup", async ({ browser, server }) => {
  const phoneOpts = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
  const alice = await Person.open(browser, server, "alice", phoneOpts);
  const bob = await Person.open(browser, server, "bob");
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  const room = uniqueName("Pocket Club");
  await alice.createRoom(room, "Private");
  await alice.send(`/invite @${bob.name}`);
  await alice.send("Small screens, big ideas");
  await alice.page.getByTestId("online-count").click();
  await expect(alice.page.locator(`[data-testid=member-row][data-username="${bob.name}"]`)).toBeVisible();
  await alice.page.screenshot({ path: shot("phone-people.png") });
  await alice.page.getByTestId("people").getByRole("button", { name: "Close" }).click();
  await alice.composer().fill("/k");
  await expect(alice.page.getByTestId("slash-popup")).toBeVisible();
  await alice.page.screenshot({ path: shot("phone-slash.png") });
  await alice.composer().fill(`/dm @${bob.name}`);
  await alice.composer().press("Enter");
  await expect(alice.page.locator("#room-title")).toHaveText(bob.name);
  await alice.send("Hi from my phone");
  await alice.showSidebar();
  await expect(alice.dmRow(bob.name)).toBeVisible();
  await expect.poll(async () => (await alice.page.getByRole("navigation", { name: "Rooms" }).boundingBox())?.x).toBe(0);
  await alice.page.screenshot({ path: shot("phone-drawer-dms.png") });
  await alice.page.getByRole("button", { name: "Account settings" }).click();
  await expect(alice.page.getByRole("dialog", { name: "Account settings" })).toBeVisible();
  await alice.page.screenshot({ path: shot("phone-settings.png") });
  await alice.close();
  await bob.close();
});
