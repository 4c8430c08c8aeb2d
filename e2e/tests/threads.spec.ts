import path from "node:path";
import { randomUUID } from "node:crypto";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

test.describe("replies and threads", () => {
  test("a reply quotes its original and jumps to it, loading history when needed", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("replies");
    await alice.createRoom(room);
    const roomId = await alice.roomId(room);
    // An original far up the history (more than a page before the end), posted over REST.
    const post = async (p: Person, body: string, extra: Record<string, string> = {}) => {
      // Signed in by cookie, a state change must carry the server's own Origin (CSRF).
      const res = await p.page.request.post(`/api/rooms/${roomId}/messages`, {
        data: { client_id: randomUUID(), body, ...extra },
        headers: { Origin: server.url },
      });
      expect(res.status(), await res.text()).toBe(201);
      return (await res.json()) as { id: string };
    };
    const original = await post(alice, "the original question about deploys");
    for (let i = 0; i < 70; i++) await post(alice, `filler ${i}`);
    await post(bob, "the answer, far below", { reply_to: original.id });

    await bob.openRoom(room);
    const reply = bob.message("the answer, far below");
    await expect(reply.getByTestId("reply-quote")).toBeVisible();
    await reply.getByTestId("reply-quote").click();
    const target = bob.message("the original question about deploys");
    await expect(target).toBeInViewport();
    await expect(target).toHaveClass(/flash/);

    // Replying from the toolbar: the composer says so, Esc would cancel, Enter sends.
    const filler = bob.exactMessage("filler 69");
    await filler.hover();
    await filler.getByRole("button", { name: "Reply", exact: true }).click();
    await expect(bob.page.getByTestId("replying")).toContainText(alice.name);
    await bob.send("replying to the last filler");
    await expect(bob.page.getByTestId("replying")).toHaveCount(0);
    const mine = alice.message("replying to the last filler");
    await expect(mine.getByTestId("reply-quote")).toContainText("filler 69");
    await mine.getByTestId("reply-quote").click();
    await expect(alice.exactMessage("filler 69")).toHaveClass(/flash/);
    await alice.close();
    await bob.close();
  });

  test("two people talk in a thread, live, and it stays out of the room", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("thread");
    await alice.createRoom(room);
    await bob.openRoom(room);

    await alice.send("Shall we ship on Friday?");
    const root = alice.message("Shall we ship on Friday?");
    await root.hover();
    await root.getByRole("button", { name: "Reply in thread" }).click();
    const panel = alice.page.getByTestId("thread-panel");
    await expect(panel.getByTestId("thread-root")).toContainText("Shall we ship on Friday?");
    const threadBox = alice.page.getByRole("textbox", { name: "Reply in thread" });
    await expect(threadBox).toBeFocused();
    await threadBox.fill("I'd rather wait for **Monday**");
    await threadBox.press("Enter");
    await expect(panel.getByTestId("thread-message").filter({ hasText: "I'd rather wait for Monday" })).toBeVisible();
    await expect(panel.locator("[data-state=pending]")).toHaveCount(0);

    // Bob sees the count under the first message and opens the thread from it.
    const bobRoot = bob.message("Shall we ship on Friday?");
    await expect(bobRoot.getByTestId("thread-line")).toContainText("1 reply");
    await expect(bob.message("I'd rather wait for")).toHaveCount(0);
    await bobRoot.getByTestId("thread-line").click();
    const bobPanel = bob.page.getByTestId("thread-panel");
    await expect(bobPanel.getByTestId("thread-message").filter({ hasText: "Monday" })).toBeVisible();
    await expect(bobPanel.locator("strong", { hasText: "Monday" })).toBeVisible();
    await bob.page.getByRole("textbox", { name: "Reply in thread" }).fill("Monday works for me");
    await bob.page.getByRole("textbox", { name: "Reply in thread" }).press("Enter");

    await expect(panel.getByTestId("thread-message").filter({ hasText: "Monday works for me" })).toBeVisible();
    await expect(root.getByTestId("thread-line")).toContainText("2 replies");
    await expect(alice.message("Monday works for me")).toHaveCount(0);
    await alice.page.screenshot({ path: path.join(screenshotDir, "thread-light.png") });

    // After a reload the thread is still there, from the server.
    await bob.page.reload();
    await expect(bob.message("Shall we ship on Friday?").getByTestId("thread-line")).toContainText("2 replies");
    await bob.message("Shall we ship on Friday?").getByTestId("thread-line").click();
    await expect(bob.page.getByTestId("thread-panel").getByTestId("thread-message")).toHaveCount(2);
    await bob.page.keyboard.press("Escape");
    await expect(bob.page.getByTestId("thread-panel")).toHaveCount(0);

    // On a phone the thread takes the whole screen.
    await alice.page.setViewportSize({ width: 390, height: 844 });
    await expect(panel).toBeVisible();
    await expect(alice.page.getByRole("navigation", { name: "Rooms" })).not.toBeInViewport();
    const box = await panel.boundingBox();
    expect(box?.width).toBe(390);
    await alice.page.screenshot({ path: path.join(screenshotDir, "thread-phone.png") });
    await alice.page.getByRole("button", { name: "Close thread" }).click();
    await expect(panel).toHaveCount(0);
    await alice.close();
    await bob.close();
  });
});
