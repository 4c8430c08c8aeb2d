import { Person, expect, test, uniqueName } from "./fixtures";

test.describe("two people chatting", () => {
  test("alice and bob chat both ways, and a message goes pending → sent", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    // Alice's socket passes through a proxy that can hold back the server's answers about one
    // message (its ack and its event) until we let them go.
    let releaseHeld!: () => void;
    const held = new Promise<void>((r) => (releaseHeld = r));
    const HOLD = "This one waits for its ack";
    await alice.page.routeWebSocket("/ws", (ws) => {
      const upstream = ws.connectToServer();
      ws.onMessage((m) => upstream.send(m));
      upstream.onMessage((m) => {
        if (typeof m === "string" && m.includes(HOLD)) void held.then(() => ws.send(m));
        else ws.send(m);
      });
      ws.onClose((code, reason) => upstream.close({ code, reason }));
      upstream.onClose((code, reason) => ws.close({ code, reason }));
    });
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    await alice.openRoom("General");
    await bob.openRoom("General");

    await alice.send("Hi Bob, can you see this?");
    await expect(bob.message("Hi Bob, can you see this?")).toBeVisible();
    await bob.send("Loud and clear, Alice.");
    await expect(alice.message("Loud and clear, Alice.")).toBeVisible();
    await expect(alice.message("Loud and clear, Alice.").getByTestId("author")).toHaveText(bob.name);

    await alice.send(HOLD);
    const pending = alice.message(HOLD);
    await expect(pending).toHaveAttribute("data-state", "pending");
    await expect(pending.getByTestId("status")).toHaveText("Sending…");
    // Stored already: Bob has it while Alice still waits for her answer.
    await expect(bob.message(HOLD)).toBeVisible();
    releaseHeld();
    await expect(pending).toHaveAttribute("data-state", "sent");
    await expect(alice.message(HOLD)).toHaveCount(1);
    await expect(bob.message(HOLD)).toHaveCount(1);

    await expect.poll(() => alice.bodies()).toEqual(await alice.serverBodies("General"));
    await expect.poll(() => bob.bodies()).toEqual(await bob.serverBodies("General"));
    await alice.close();
    await bob.close();
  });

  test("a message typed while offline survives a reload and is sent exactly once", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    let offline = false;
    // "Offline": sockets are refused and REST sends never reach the server.
    await alice.page.routeWebSocket("/ws", (ws) => {
      if (offline) {
        ws.close({ code: 1006 });
        return;
      }
      const upstream = ws.connectToServer();
      ws.onMessage((m) => upstream.send(m));
      upstream.onMessage((m) => ws.send(m));
      ws.onClose(() => upstream.close());
      upstream.onClose(() => ws.close());
    });
    await alice.page.route("**/api/rooms/*/messages", (route) =>
      offline && route.request().method() === "POST" ? route.abort("internetdisconnected") : route.continue(),
    );
    await alice.signInAsGuest();
    await alice.openRoom("Random");
    offline = true;
    // Drop the live socket too, as a network change would.
    await alice.page.evaluate(() => window.dispatchEvent(new Event("offline")));
    await alice.page.reload();
    await expect(alice.page.getByTestId("me")).toHaveText(alice.name);
    await alice.send("sent into the void");
    await expect(alice.message("sent into the void")).toHaveAttribute("data-state", "pending");
    await expect(alice.message("sent into the void").getByTestId("status")).toHaveText("Sending…");
    // Reload while still offline: the outbox survives in localStorage.
    await alice.page.reload();
    await expect(alice.message("sent into the void")).toHaveAttribute("data-state", "pending");
    offline = false;
    await alice.page.evaluate(() => window.dispatchEvent(new Event("online")));
    await expect(alice.message("sent into the void")).toHaveAttribute("data-state", "sent", { timeout: 40_000 });
    await expect(alice.message("sent into the void")).toHaveCount(1);
    expect((await alice.serverBodies("Random")).filter((b) => b === "sent into the void")).toHaveLength(1);
    await alice.close();
  });

  test("a refused send shows failed with a retry that sends it once", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    let refuseNext = true;
    await alice.page.routeWebSocket("/ws", (ws) => {
      const upstream = ws.connectToServer();
      ws.onMessage((m) => {
        const frame = typeof m === "string" ? (JSON.parse(m) as { type: string; client_id?: string }) : null;
        if (frame?.type === "send" && refuseNext) {
          refuseNext = false;
          ws.send(JSON.stringify({ type: "error", code: "rate_limited", message: "slow down", client_id: frame.client_id }));
          return;
        }
        upstream.send(m);
      });
      upstream.onMessage((m) => ws.send(m));
      ws.onClose(() => upstream.close());
      upstream.onClose(() => ws.close());
    });
    await alice.signInAsGuest();
    await alice.openRoom("General");
    await alice.send("first try fails");
    const msg = alice.message("first try fails");
    await expect(msg).toHaveAttribute("data-state", "failed");
    await expect(msg.getByTestId("status")).toContainText("Not sent");
    await msg.getByRole("button", { name: "Retry" }).click();
    await expect(msg).toHaveAttribute("data-state", "sent");
    await expect(alice.message("first try fails")).toHaveCount(1);
    expect((await alice.serverBodies("General")).filter((b) => b === "first try fails")).toHaveLength(1);
    await alice.close();
  });

  test("composer: Enter sends, Shift+Enter is a new line, a counter near the limit", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    await alice.signInAsGuest();
    await alice.openRoom("Tech Talk");
    const box = alice.composer();
    await box.pressSequentially("line one");
    await box.press("Shift+Enter");
    await box.pressSequentially("line two");
    await expect(box).toHaveValue("line one\nline two");
    await box.press("Enter");
    await expect(box).toHaveValue("");
    await expect.poll(() => alice.serverBodies("Tech Talk")).toContain("line one\nline two");

    await expect(alice.page.getByTestId("counter")).toHaveCount(0);
    await box.fill("x".repeat(3990));
    await expect(alice.page.getByTestId("counter")).toHaveText("10");
    await box.fill("x".repeat(4001));
    await expect(alice.page.getByTestId("counter")).toHaveText("-1");
    await expect(alice.page.getByRole("button", { name: "Send" })).toBeDisabled();
    await box.press("Enter");
    await expect(box).toHaveValue("x".repeat(4001)); // not sent, not lost
    await alice.close();
  });

  test("typing and presence", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("Presence");
    await alice.page.getByRole("button", { name: "Create a room" }).click();
    await alice.page.getByLabel("Name").fill(room);
    await alice.page.getByRole("button", { name: "Create", exact: true }).click();
    await expect(alice.page.locator("#room-title")).toContainText(room);
    // The room list is live: bob sees the new room without reloading.
    await expect(bob.page.locator(`[data-testid=room-row][data-room-name="${room}"]`)).toBeVisible();
    await bob.openRoom(room);

    const people = (p: Person) => p.page.getByTestId("online-count");
    await expect(people(alice)).toHaveText(/2 online/);
    await expect(people(bob)).toHaveText(/2 online/);

    await bob.composer().pressSequentially("I am typ", { delay: 30 });
    await expect(alice.page.getByTestId("typing")).toHaveText(`${bob.name} is typing…`);
    await bob.composer().press("Enter");
    await expect(alice.message("I am typ")).toBeVisible();
    await expect(alice.page.getByTestId("typing")).toHaveText("");

    await bob.close();
    await expect(people(alice)).toHaveText(/1 online/, { timeout: 15_000 });
    await alice.close();
  });

  test("clear for everyone, then chatting goes on", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("Clear");
    await alice.page.getByRole("button", { name: "Create a room" }).click();
    await alice.page.getByLabel("Name").fill(room);
    await alice.page.getByRole("button", { name: "Create", exact: true }).click();
    await bob.openRoom(room);
    for (const text of ["one", "two", "three"]) await alice.send(text);
    await expect.poll(() => bob.bodies()).toEqual(["one", "two", "three"]);

    await alice.page.getByRole("button", { name: "Room options" }).click();
    await alice.page.getByRole("menuitem", { name: /Clear all messages/ }).click();
    await alice.page.getByRole("button", { name: "Clear for everyone" }).click();
    await expect.poll(() => alice.bodies()).toEqual([]);
    await expect.poll(() => bob.bodies()).toEqual([]);
    await expect(bob.page.getByTestId("notice").filter({ hasText: "cleared the room" })).toBeVisible();
    await bob.send("after the clear");
    await expect.poll(() => alice.bodies()).toEqual(["after the clear"]);
    expect(await alice.serverBodies(room)).toEqual(["after the clear"]);
    await alice.close();
    await bob.close();
  });

  test("a drag-rearrange and a keyboard move are seen by the other person", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("Chaos");
    await alice.page.getByRole("button", { name: "Create a room" }).click();
    await alice.page.getByLabel("Name").fill(room);
    await alice.page.getByRole("button", { name: "Create", exact: true }).click();
    await bob.openRoom(room);
    for (const text of ["first", "second", "third"]) await alice.send(text);
    await expect.poll(() => bob.bodies()).toEqual(["first", "second", "third"]);

    // Drag "third" by its handle onto "first".
    const third = alice.message("third");
    await third.hover();
    const handle = third.getByRole("button", { name: /Drag to move/ });
    const from = await handle.boundingBox();
    const target = await alice.message("first").boundingBox();
    if (!from || !target) throw new Error("no layout");
    await alice.page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await alice.page.mouse.down();
    for (let i = 1; i <= 10; i++) {
      await alice.page.mouse.move(from.x + from.width / 2, from.y + (target.y + 4 - from.y) * (i / 10));
    }
    await alice.page.mouse.up();
    await expect.poll(() => alice.bodies()).toEqual(["third", "first", "second"]);
    await expect.poll(() => bob.bodies()).toEqual(["third", "first", "second"]);

    // Bob moves "second" up with the keyboard-reachable button.
    await bob.message("second").hover();
    await bob.message("second").getByRole("button", { name: "Move up" }).click();
    await expect.poll(() => bob.bodies()).toEqual(["third", "second", "first"]);
    await expect.poll(() => alice.bodies()).toEqual(["third", "second", "first"]);
    expect(await alice.serverBodies(room)).toEqual(["third", "second", "first"]);

    // Keyboard only: focus a message, Alt+ArrowUp moves it.
    await alice.message("first").focus();
    await alice.page.keyboard.press("Alt+ArrowUp");
    await expect.poll(() => bob.bodies()).toEqual(["third", "first", "second"]);
    await expect.poll(() => alice.bodies()).toEqual(["third", "first", "second"]);
    await alice.close();
    await bob.close();
  });

  test("with the socket blocked, long polling still chats", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    // Bob's network refuses WebSockets outright.
    await bob.page.routeWebSocket("/ws", (ws) => ws.close({ code: 1006 }));
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    await alice.openRoom("Tech Talk");
    await bob.openRoom("Tech Talk");
    await expect.poll(() => bob.connectionState(), { timeout: 20_000 }).toBe("polling");
    await bob.send("hello from behind a proxy");
    await expect(alice.message("hello from behind a proxy")).toBeVisible();
    await expect(bob.message("hello from behind a proxy")).toHaveAttribute("data-state", "sent");
    await alice.send("long polling works");
    await expect(bob.message("long polling works")).toBeVisible({ timeout: 30_000 });
    await expect.poll(() => bob.bodies()).toEqual(await bob.serverBodies("Tech Talk"));
    await alice.close();
    await bob.close();
  });
});
