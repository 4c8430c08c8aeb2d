import type { User } from "../protocol";

/** A coloured initial; the hue comes from the user id so it is stable everywhere. */
export function Avatar({ user, small, large }: { user: Pick<User, "id" | "username" | "display_name">; small?: boolean; large?: boolean }) {
  let h = 0;
  for (const ch of user.id) h = (h * 31 + ch.charCodeAt(0)) % 360;
  const name = user.display_name?.trim() || user.username;
  return (
    <span
      className={`avatar${small ? " small" : ""}${large ? " large" : ""}`}
      style={{ ["--hue" as string]: String(h) }}
      aria-hidden="true"
    >
      {[...name][0]?.toUpperCase() ?? "?"}
    </span>
  );
}
