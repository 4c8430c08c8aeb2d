import path from "node:path";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

const SAMPLE = [
  "Morning all! Deploy went out at 9, dashboards look calm so far.",
  "Nice. Anyone seeing the login latency spike from yesterday?",
  "Not since the cache fix.\nI'll keep an eye on it today.",
];

test("desktop light and dark, with a conversation", async ({ browser, server }) => {
  const room = uniqueName("Design");
  for (const scheme of ["light", "dark"] as const) {
    const alice = await Person.open(browser, server, "alice", { colorScheme: scheme, viewport: { width: 1280, height: 800 } });
    const bob = await Person.open(browser, server, "bob", { colorScheme: scheme });
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    if (scheme === "light") {
      await alice.page.getByRole("button", { name: "Create a room" }).click();
      await alice.page.getByLabel("Name").fill(room);
      await alice.page.getByLabel("Topic (optional)").fill("Where the pixels are argued about");
      await alice.page.getByRole("button", { name: "Create", exact: true }).click();
    } else {
      await alice.openRoom(room);
    }
    await bob.openRoom(room);
    if (scheme === "light") {
      await alice.send(SAMPLE[0]);
      await bob.send(SAMPLE[1]);
      await alice.send(SAMPLE[2]);
    }
    await expect(alice.message("cache fix")).toBeVisible();
    // Typing notices are throttled (one per 2 s per person): keep typing until one gets through.
    await bob.composer().pressSequentially("typing a reply", { delay: 40 });
    await expect(async () => {
      await bob.composer().press("End");
      await bob.composer().pressSequentially(".", { delay: 10 });
      await expect(alice.page.getByTestId("typing")).toContainText("is typing", { timeout: 1_000 });
    }).toPass({ timeout: 10_000 });
    await alice.page.screenshot({ path: path.join(screenshotDir, `desktop-${scheme}.png`) });
    await alice.close();
    await bob.close();
  }
});

test("phone-sized screen: rooms in a drawer, chatting works", async ({ browser, server }) => {
  const phone = await Person.open(browser, server, "phone", {
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
  });
  await phone.signInAsGuest();
  await expect(phone.page.getByRole("navigation", { name: "Rooms" })).not.toBeInViewport();
  // A room of its own (the worker's server is shared with other tests), created from the drawer.
  const room = uniqueName("Pocket");
  await phone.page.getByRole("button", { name: "Open rooms" }).click();
  await phone.page.getByRole("button", { name: "Create a room" }).click();
  await phone.page.getByLabel("Name").fill(room);
  await phone.page.getByRole("button", { name: "Create", exact: true }).click();
  await expect(phone.page.locator("#room-title")).toContainText(room);
  // The room is loaded (its timeline shows) before typing, as openRoom waits for it.
  await expect(phone.page.getByTestId("messages")).toBeVisible();
  await expect(phone.page.getByRole("navigation", { name: "Rooms" })).not.toBeInViewport();
  await phone.send("Hello from a phone");
  await expect(phone.message("Hello from a phone")).toHaveAttribute("data-state", "sent");
  await phone.page.screenshot({ path: path.join(screenshotDir, "phone.png") });

  // Touch rearrange: long-press the grip of the last message and drag it to the top.
  await phone.send("touch me second");
  await expect(phone.message("touch me second")).toHaveAttribute("data-state", "sent");
  const before = await phone.bodies();
  // #15: the handles show in "Rearrange" mode, chosen from a message's long-press sheet.
  await phone.longPress(phone.message("touch me second").getByTestId("body"));
  await phone.page.getByRole("dialog", { name: "Message actions" }).getByRole("button", { name: "Rearrange messages" }).click();
  const handle = phone.message("touch me second").getByRole("button", { name: /Drag to move/ });
  const from = await handle.boundingBox();
  const to = await phone.message("Hello from a phone").boundingBox();
  if (!from || !to) throw new Error("no layout");
  const cdp = await phone.context.newCDPSession(phone.page);
  const point = (x: number, y: number) => [{ x, y, id: 1 }];
  const x = from.x + from.width / 2;
  await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: point(x, from.y + from.height / 2) });
  await phone.page.waitForTimeout(300); // the long-press that tells a drag from a scroll
  for (let i = 1; i <= 8; i++) {
    const y = from.y + from.height / 2 + (to.y + 4 - (from.y + from.height / 2)) * (i / 8);
    await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: point(x, y) });
  }
  await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  const moved = ["touch me second", ...before.filter((b) => b !== "touch me second")];
  await expect.poll(() => phone.bodies()).toEqual(moved);
  await expect.poll(() => phone.serverBodies(room)).toEqual(moved);
  await phone.page.getByRole("button", { name: "Open rooms" }).click();
  await expect(phone.page.getByRole("navigation", { name: "Rooms" })).toBeInViewport();
  // Let the slide-in finish before the picture.
  await expect.poll(async () => (await phone.page.getByRole("navigation", { name: "Rooms" }).boundingBox())?.x).toBe(0);
  await phone.page.screenshot({ path: path.join(screenshotDir, "phone-drawer.png") });
  await phone.close();
});
