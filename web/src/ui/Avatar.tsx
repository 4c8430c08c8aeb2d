import type { User } from "../protocol";

/** A coloured initial; the hue comes from the user id so it is stable everywhere. */
export function Avatar({ user, small }: { user: User; small?: boolean }) {
  let h = 0;
  for (const ch of user.id) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return (
    <span className={`avatar${small ? " small" : ""}`} style={{ ["--hue" as string]: String(h) }} aria-hidden="true">
      {[...user.username][0]?.toUpperCase() ?? "?"}
    </span>
  );
}
