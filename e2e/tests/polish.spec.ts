/**
 * Issue #15: what a new user notices in the first ten minutes — a room that vanishes, a delete
 * with no way back, a silent move, and the small things.
 */
import { Person, expect, test, uniqueName } from "./fixtures";

test("a deleted room says who deleted it to the members who had it", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  const carol = await Person.open(browser, server, "carol");
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  await carol.signInAsGuest();
  const name = uniqueName("Book Club ");
  await alice.createRoom(name);
  // Bob has it open; Carol has it listed but is looking at General.
  await bob.openRoom(name);
  await carol.openRoom(name);
  await carol.openRoom("General");

  await alice.page.getByRole("button", { name: "Room options" }).click();
  await alice.page.getByRole("menuitem", { name: "Delete room…" }).click();
  await alice.page.getByRole("dialog").getByRole("button", { name: "Delete room" }).click();

  const said = `${name} was deleted by ${alice.name}`;
  await expect(bob.toast(said)).toBeVisible();
  await expect(carol.toast(said)).toBeVisible();
  await expect(bob.page.locator(`[data-testid=room-row][data-room-name="${name}"]`)).toHaveCount(0);
  // The one who deleted it is not told what they just did.
  await expect(alice.page.locator(`[data-testid=room-row][data-room-name="${name}"]`)).toHaveCount(0);
  await expect(alice.toast("was deleted")).toHaveCount(0);
  await alice.close();
  await bob.close();
  await carol.close();
});

test("deleting your own message offers Undo; the delete is sent only when the toast goes", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  const room = uniqueName("Undo ");
  await alice.createRoom(room);
  await bob.openRoom(room);
  const deletes: string[] = [];
  alice.page.on("request", (r) => {
    if (r.method() === "DELETE" && r.url().includes("/messages/")) deletes.push(r.url());
  });
  await alice.send("keep me after all");
  await alice.send("really delete me");
  await expect(bob.message("really delete me")).toBeVisible();

  // Delete, then think better of it: the message is back and nothing reached the server.
  await alice.message("keep me after all").hover();
  await alice.message("keep me after all").getByRole("button", { name: "Delete" }).click();
  await expect(alice.message("keep me after all")).toHaveCount(0);
  const toast = alice.toast("Message deleted");
  await expect(toast).toBeVisible();
  await toast.getByRole("button", { name: "Undo" }).click();
  await expect(alice.message("keep me after all")).toBeVisible();
  await expect(toast).toHaveCount(0);
  expect(deletes).toEqual([]);

  // Delete and close the toast: that sends it, and it is gone for everyone.
  await alice.message("really delete me").hover();
  await alice.message("really delete me").getByRole("button", { name: "Delete" }).click();
  await expect(alice.message("really delete me")).toHaveCount(0);
  await expect(bob.message("really delete me")).toBeVisible();
  await alice.toast("Message deleted").getByRole("button", { name: "Dismiss" }).click();
  await expect(bob.message("really delete me")).toHaveCount(0);
  expect(deletes).toHaveLength(1);
  await expect(bob.message("keep me after all")).toBeVisible();
  await expect.poll(() => bob.bodies()).toEqual(await bob.serverBodies(room));
  await alice.close();
  await bob.close();
});

test("a message someone moves says who moved it, for a moment", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  const room = uniqueName("Moves ");
  await alice.createRoom(room);
  await bob.openRoom(room);
  await alice.send("first");
  await alice.send("second");
  await expect(bob.message("second")).toHaveAttribute("data-state", "sent");

  await bob.message("second").hover();
  await bob.message("second").getByRole("button", { name: "Move up" }).click();
  await expect.poll(() => alice.bodies()).toEqual(["second", "first"]);
  await expect(alice.message("second").getByTestId("moved-note")).toHaveText(`Moved by ${bob.name}`);
  await expect(alice.message("first").getByTestId("moved-note")).toHaveCount(0);
  // The one who moved it knows.
  await expect(bob.message("second").getByTestId("moved-note")).toHaveCount(0);
  await alice.close();
  await bob.close();
});

test.describe("small things", () => {
  test("one hover toolbar at a time, even with keyboard focus on another message", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice", { viewport: { width: 1280, height: 800 } });
    await alice.signInAsGuest();
    await alice.createRoom(uniqueName("Bars "));
    await alice.send("focused by keyboard");
    await alice.send("under the mouse");
    await expect(alice.message("under the mouse")).toHaveAttribute("data-state", "sent");
    await alice.message("focused by keyboard").focus();
    await alice.message("under the mouse").hover();
    const visibleBars = () =>
      alice.page.locator(".msg-actions").evaluateAll((bars) => bars.filter((b) => getComputedStyle(b).opacity !== "0").length);
    await expect.poll(visibleBars).toBe(1);
    await expect.poll(() =>
      alice.message("under the mouse").locator(".msg-actions").evaluate((b) => getComputedStyle(b).opacity),
    ).toBe("1");
    await alice.close();
  });

  test("an empty room says so once", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    await alice.signInAsGuest();
    await alice.createRoom(uniqueName("Empty "));
    await expect(alice.page.getByText("No messages yet. Say hello!")).toBeVisible();
    await expect(alice.page.getByText("This is the beginning of the room.")).toHaveCount(0);
    await alice.send("hello");
    await expect(alice.page.getByText("This is the beginning of the room.")).toBeVisible();
    await expect(alice.page.getByText("No messages yet. Say hello!")).toHaveCount(0);
    await alice.close();
  });

  const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

  test("on a phone no message has an empty toolbar", async ({ browser, server }) => {
    const phone = await Person.open(browser, server, "phone", PHONE);
    await phone.signInAsGuest();
    await phone.createRoom(uniqueName("Bare "));
    await phone.send("nothing to hover here");
    const msg = phone.message("nothing to hover here");
    await expect(msg).toHaveAttribute("data-state", "sent");
    // On a touch screen the actions live in the long-press sheet: no toolbar, not even an empty one.
    await expect(msg.locator(".msg-actions")).toHaveCount(0);
    await phone.close();
  });

  test("on a phone the exact time of a message is one long press away", async ({ browser, server }) => {
    const phone = await Person.open(browser, server, "phone", PHONE);
    await phone.signInAsGuest();
    await phone.createRoom(uniqueName("Times "));
    await phone.send("what time was this?");
    const msg = phone.message("what time was this?");
    await expect(msg).toHaveAttribute("data-state", "sent");
    const exact = await msg.locator("time").first().getAttribute("title");
    expect(exact).toBeTruthy();
    await phone.longPress(msg.getByTestId("body"));
    await expect(phone.page.getByTestId("sheet-time")).toContainText(exact ?? "");
    await phone.close();
  });

  test("on a phone the closed drawer casts no shadow at the left edge", async ({ browser, server }) => {
    const phone = await Person.open(browser, server, "phone", PHONE);
    await phone.signInAsGuest();
    const drawer = phone.page.getByRole("navigation", { name: "Rooms" });
    await expect(drawer).not.toBeInViewport();
    await expect.poll(() => drawer.evaluate((e) => getComputedStyle(e).boxShadow)).toBe("none");
    await phone.page.getByRole("button", { name: "Open rooms" }).click();
    await expect.poll(() => drawer.evaluate((e) => getComputedStyle(e).boxShadow)).not.toBe("none");
    await phone.close();
  });
});
