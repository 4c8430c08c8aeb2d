/**
 * Calls (#13) in real Chromium with a generated camera and microphone: two people start a call
 * and their peer connections really connect (video bytes arrive on both sides), a screen share
 * replaces the video track, one leaves and the other sees it, a third joins the running call.
 * Connection states and statistics come from the app's real RTCPeerConnections through
 * `window.__palaverCalls`.
 */
import type { Page } from "@playwright/test";
import { Person, expect, test, uniqueName } from "./fixtures";

type Hook = {
  peers(): { username: string; connectionState: string; iceConnectionState: string }[];
  inboundVideoBytes(username: string): Promise<number>;
  videoSenderTrack(username: string): { id: string; label: string } | null;
  cameraTrackId(): string | null;
  screenTrackId(): string | null;
};

const media = { permissions: ["camera", "microphone"] };

function peerState(page: Page, username: string): Promise<string | null> {
  return page.evaluate(
    (name) => (window as unknown as { __palaverCalls: Hook }).__palaverCalls.peers().find((p) => p.username === name)?.connectionState ?? null,
    username,
  );
}

function peerNames(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __palaverCalls: Hook }).__palaverCalls.peers().map((p) => p.username));
}

function videoBytes(page: Page, username: string): Promise<number> {
  return page.evaluate((name) => (window as unknown as { __palaverCalls: Hook }).__palaverCalls.inboundVideoBytes(name), username);
}

/** Video keeps arriving from `from` on `page`: the byte count grows past what it was. */
async function expectVideoFlowing(page: Page, from: string): Promise<void> {
  const before = await videoBytes(page, from);
  await expect.poll(() => videoBytes(page, from), { timeout: 30_000 }).toBeGreaterThan(before);
}

test("two people call, share a screen, one leaves and a third joins", async ({ browser, server }) => {
  // Three browsers encoding fake video on a shared 2-core machine: connecting can be slow.
  test.setTimeout(240_000);
  const alice = await Person.open(browser, server, "alice", media);
  const bob = await Person.open(browser, server, "bob", media);
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  const room = uniqueName("call");
  await alice.createRoom(room);
  await bob.openRoom(room);

  // Alice starts the call; Bob sees it running and joins.
  await alice.page.getByRole("button", { name: "Start call" }).click();
  await expect(alice.page.getByRole("toolbar", { name: "Call controls" })).toBeVisible();
  const join = bob.page.getByRole("button", { name: "Join call (1)" });
  await expect(join).toBeVisible();
  await expect(bob.page.getByTestId("call-who")).toContainText(alice.name);
  await join.click();

  // Both peer connections connect, and video flows both ways.
  await expect.poll(() => peerState(alice.page, bob.name), { timeout: 60_000 }).toBe("connected");
  await expect.poll(() => peerState(bob.page, alice.name), { timeout: 60_000 }).toBe("connected");
  await expectVideoFlowing(alice.page, bob.name);
  await expectVideoFlowing(bob.page, alice.name);
  await expect(alice.page.getByTestId("call-tile")).toHaveCount(1);

  // Alice shares her screen: the track she sends Bob is the screen's, not the camera's.
  const camera = await alice.page.evaluate(() => (window as unknown as { __palaverCalls: Hook }).__palaverCalls.cameraTrackId());
  expect(camera).not.toBeNull();
  await alice.page.getByRole("button", { name: "Share screen" }).click();
  await expect(alice.page.getByRole("button", { name: "Stop sharing screen" })).toBeVisible();
  const sent = await alice.page.evaluate((name) => {
    const hook = (window as unknown as { __palaverCalls: Hook }).__palaverCalls;
    return { sender: hook.videoSenderTrack(name)?.id ?? null, screen: hook.screenTrackId() };
  }, bob.name);
  expect(sent.screen).not.toBeNull();
  expect(sent.sender).toBe(sent.screen);
  expect(sent.sender).not.toBe(camera);
  await expectVideoFlowing(bob.page, alice.name);

  // Bob leaves: Alice's call has nobody else in it.
  await bob.page.getByRole("button", { name: "Leave call" }).click();
  await expect.poll(() => peerNames(alice.page), { timeout: 30_000 }).toEqual([]);
  await expect(alice.page.getByTestId("call-tile")).toHaveCount(0);
  await expect(bob.page.getByRole("button", { name: "Join call (1)" })).toBeVisible();

  // Carol arrives and joins the running call.
  const carol = await Person.open(browser, server, "carol", media);
  await carol.signInAsGuest();
  await carol.openRoom(room);
  await carol.page.getByRole("button", { name: "Join call (1)" }).click();
  await expect.poll(() => peerState(alice.page, carol.name), { timeout: 60_000 }).toBe("connected");
  await expect.poll(() => peerState(carol.page, alice.name), { timeout: 60_000 }).toBe("connected");
  await expectVideoFlowing(carol.page, alice.name);
  await expectVideoFlowing(alice.page, carol.name);
  await expect(bob.page.getByRole("button", { name: "Join call (2)" })).toBeVisible();

  await alice.close();
  await bob.close();
  await carol.close();
});

test("a DM call rings the other person, and a reload rejoins the call", async ({ browser, server }) => {
  test.setTimeout(240_000);
  const alice = await Person.open(browser, server, "alice", media);
  const bob = await Person.open(browser, server, "bob", media);
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  await alice.send(`/dm @${bob.name}`);
  await expect(alice.page.locator("#room-title")).toHaveText(bob.name);
  await alice.send("call you?");
  await expect(bob.dmRow(alice.name)).toBeVisible();

  // Bob is elsewhere (General) when Alice starts the call in their DM: it rings for him.
  await alice.page.getByRole("button", { name: "Start call" }).click();
  const ring = bob.page.getByRole("alertdialog", { name: "Incoming call" });
  await expect(ring).toContainText(alice.name);
  await ring.getByRole("button", { name: "Join" }).click();
  await expect(ring).toHaveCount(0);
  await expect(bob.page.locator("#room-title")).toHaveText(alice.name);
  await expect.poll(() => peerState(alice.page, bob.name), { timeout: 60_000 }).toBe("connected");
  await expect.poll(() => peerState(bob.page, alice.name), { timeout: 60_000 }).toBe("connected");

  // Alice reloads: her page joins the call again by itself, with new peer connections.
  await alice.page.reload();
  await expect(alice.page.getByRole("toolbar", { name: "Call controls" })).toBeVisible();
  await expect.poll(() => peerState(alice.page, bob.name), { timeout: 60_000 }).toBe("connected");
  await expect.poll(() => peerState(bob.page, alice.name), { timeout: 60_000 }).toBe("connected");
  await expectVideoFlowing(alice.page, bob.name);

  // Alice leaves, Bob leaves: the call is over and nothing rings.
  await alice.page.getByRole("button", { name: "Leave call" }).click();
  await bob.page.getByRole("button", { name: "Leave call" }).click();
  await expect(alice.page.getByRole("button", { name: "Start call" })).toBeVisible();
  await expect(bob.page.getByRole("button", { name: "Start call" })).toBeVisible();
  await alice.close();
  await bob.close();
});
