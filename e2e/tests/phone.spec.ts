/**
 * Issue #15 on a phone: a long press opens a message's actions as a bottom sheet (no toolbar
 * squeezing the text, no grip on every message); drag handles show only while rearranging.
 */
import path from "node:path";
import { Person, expect, test, screenshotDir, uniqueName } from "./fixtures";

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

test("phone: a long press opens the message's actions as a sheet; handles only while rearranging", async ({ browser, server }) => {
  const phone = await Person.open(browser, server, "phone", PHONE);
  await phone.signInAsGuest();
  const room = uniqueName("Sheet ");
  await phone.createRoom(room);
  const text = "a message long enough to fill the width of a phone screen from one side to the other";
  await phone.send("one before");
  await phone.send(text);
  const msg = phone.message(text);
  await expect(msg).toHaveAttribute("data-state", "sent");

  // No grip and no toolbar on any message, and a tap leaves the text its whole width.
  await expect(phone.page.getByRole("button", { name: /Drag to move/ })).toHaveCount(0);
  await expect(phone.page.getByRole("toolbar", { name: "Message actions" })).toHaveCount(0);
  const width = (await msg.getByTestId("body").boundingBox())?.width;
  await msg.getByTestId("body").tap();
  await expect(phone.page.getByRole("toolbar", { name: "Message actions" })).toHaveCount(0);
  expect((await msg.getByTestId("body").boundingBox())?.width).toBe(width);

  // A long press: the sheet, at the bottom of the screen, with the actions.
  await phone.longPress(msg.getByTestId("body"));
  const sheet = phone.page.getByRole("dialog", { name: "Message actions" });
  for (const name of ["Reply", "Reply in thread", "Edit", "Delete", "Rearrange messages"]) {
    await expect(sheet.getByRole("button", { name, exact: true })).toBeVisible();
  }
  const box = await sheet.boundingBox();
  expect(Math.round((box?.y ?? 0) + (box?.height ?? 0))).toBe(844);
  expect(Math.round(box?.width ?? 0)).toBe(390);
  await phone.page.screenshot({ path: path.join(screenshotDir, "phone-sheet.png") });

  // Edit from the sheet opens the editor in place.
  await sheet.getByRole("button", { name: "Edit" }).click();
  await expect(sheet).toHaveCount(0);
  await phone.page.getByLabel("Edit message").fill(`${text}!`);
  await phone.page.getByLabel("Edit message").press("Enter");
  await expect(phone.message(`${text}!`).getByTestId("edited")).toBeVisible();

  // Rearrange mode: handles on every message until Done.
  await phone.longPress(phone.message("one before").getByTestId("body"));
  await sheet.getByRole("button", { name: "Rearrange messages" }).click();
  await expect(phone.page.getByTestId("rearrange-bar")).toBeVisible();
  await expect(phone.page.getByRole("button", { name: /Drag to move/ })).toHaveCount(2);
  await phone.message("one before").getByRole("button", { name: "Move down" }).click();
  await expect.poll(() => phone.serverBodies(room)).toEqual([`${text}!`, "one before"]);
  await phone.page.getByTestId("rearrange-bar").getByRole("button", { name: "Done" }).click();
  await expect(phone.page.getByRole("button", { name: /Drag to move/ })).toHaveCount(0);
  await phone.close();
});
