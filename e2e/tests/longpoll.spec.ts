/**
 * Issue #15 item 2: a person whose WebSockets are blocked long-polls (here forced with
 * `?transport=poll`) and still chats like everyone else — online to others and seeing who is,
 * typing both ways, told when a room is deleted or they are removed from it.
 *
 * Bob polls; Alice uses the socket. Polling gets no `room_list` frames (the client reads the room
 * list every 30 s instead), so the rooms Bob opens exist before he signs in.
 */
import path from "node:path";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

// Two people and a busy machine: more than the default minute.
test.describe.configure({ timeout: 120_000 });

/** Sign in with sockets disabled, and make sure the page really long-polls. */
async function signInPolling(person: Person): Promise<void> {
  await person.signInAsGuest("?transport=poll");
  await expect.poll(() => person.connectionState()).toBe("polling");
}

/** Sign in on the socket, and make sure it is live (so the two really use different transports). */
async function signInLive(person: Person): Promise<void> {
  await person.signInAsGuest();
  await expect.poll(() => person.connectionState()).toBe("live");
}

function row(person: Person, username: string) {
  return person.page.locator(`[data-testid=member-row][data-username="${username}"]`);
}

test("a poller is online, sees who else is, and types and chats both ways", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await signInLive(alice);
  const room = uniqueName("Porch ");
  await alice.createRoom(room);
  await signInPolling(bob);
  await bob.openRoom(room);

  // Each is online to the other: the count and the people panel (open on a wide screen).
  const online = (p: Person) => p.page.getByTestId("online-count");
  await expect(online(alice)).toHaveText(/2 online/);
  await expect(online(bob)).toHaveText(/2 online/);
  await expect(row(alice, bob.name)).toHaveAttribute("data-online", "true");
  await expect(row(bob, alice.name)).toHaveAttribute("data-online", "true");
  // Polling is a working connection: presence is not greyed as if disconnected.
  await expect(bob.page.locator(".shell.disconnected")).toHaveCount(0);

  // Typing notices go out at most every 2 s: keep typing until one gets through.
  await alice.composer().pressSequentially("thinking", { delay: 30 });
  await expect(async () => {
    await alice.composer().pressSequentially(".", { delay: 10 });
    await expect(bob.page.getByTestId("typing")).toHaveText(`${alice.name} is typing…`, { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await bob.page.screenshot({ path: path.join(screenshotDir, "desktop-polling.png") });
  await alice.composer().press("Enter");
  await expect(bob.message("thinking")).toBeVisible();

  await bob.composer().pressSequentially("answering", { delay: 30 });
  await expect(async () => {
    await bob.composer().pressSequentially(".", { delay: 10 });
    await expect(alice.page.getByTestId("typing")).toHaveText(`${bob.name} is typing…`, { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await bob.composer().press("Enter");
  await expect(alice.message("answering")).toBeVisible();
  await expect(alice.message("answering").getByTestId("author")).toHaveText(bob.name);
  await expect(bob.message("answering")).toHaveAttribute("data-state", "sent");

  expect(await bob.connectionState()).toBe("polling");
  expect(await alice.connectionState()).toBe("live");
  await alice.close();
  await bob.close();
});

test("a poller is told who deleted a room and stops polling it, without an error", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await signInLive(alice);
  const name = uniqueName("Book Club ");
  await alice.createRoom(name);
  const roomId = await alice.roomId(name);
  const polls: string[] = [];
  bob.page.on("request", (r) => {
    if (r.url().includes(`/api/rooms/${roomId}/events`)) polls.push(r.url());
  });
  await signInPolling(bob);
  await bob.openRoom(name);
  // Bob's poll of the room is waiting when the room goes.
  await expect.poll(() => polls.length).toBeGreaterThan(0);

  await alice.page.getByRole("button", { name: "Room options" }).click();
  await alice.page.getByRole("menuitem", { name: "Delete room…" }).click();
  await alice.page.getByRole("dialog").getByRole("button", { name: "Delete room" }).click();

  const said = `${name} was deleted by ${alice.name}`;
  await expect(bob.toast(said)).toBeVisible();
  await expect(bob.page.locator(`[data-testid=room-row][data-room-name="${name}"]`)).toHaveCount(0);
  const pollsWhenDeleted = polls.length;

  // Time passes (a message reaches Bob through his other room's polls): the deleted room is not
  // polled again, and nothing went wrong on the way.
  await alice.openRoom("General");
  await bob.openRoom("General");
  await alice.send("still here");
  await expect(bob.message("still here")).toBeVisible();
  expect(polls).toHaveLength(pollsWhenDeleted);
  await expect(bob.page.locator(".toast").filter({ hasNotText: said })).toHaveCount(0);
  await alice.close();
  await bob.close();
});

test("a poller kicked, then banned, is told as on the socket", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await signInLive(alice);
  const room = uniqueName("Mod Porch ");
  await alice.createRoom(room);
  await signInPolling(bob);
  await bob.openRoom(room);
  await bob.send("hello from the poller");
  await expect(alice.message("hello from the poller")).toBeVisible();

  await alice.send(`/kick @${bob.name}`);
  await expect(bob.toast(`You were removed from ${room}`)).toBeVisible();
  await expect(bob.page.locator(`[data-testid=joined-rooms] [data-room-name="${room}"]`)).toHaveCount(0);

  // A public room can be joined again after a kick; a ban ends that.
  await bob.openRoom(room);
  await expect(row(alice, bob.name)).toBeVisible();
  await alice.send(`/ban @${bob.name} 1h`);
  await expect(bob.toast(`You were banned from ${room}`)).toBeVisible();
  await expect(bob.page.locator(`[data-testid=joined-rooms] [data-room-name="${room}"]`)).toHaveCount(0);
  expect(await bob.connectionState()).toBe("polling");
  expect(await alice.connectionState()).toBe("live");
  await alice.close();
  await bob.close();
});
