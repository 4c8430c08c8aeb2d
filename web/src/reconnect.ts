/**
 * When to try the server again after the socket is lost (#15). One policy for every retry of
 * the connection, kept here so it is tested and documented (docs/protocol.md, "Client
 * behaviour").
 *
 * The first retries are fast (a server restart or a network blip is usually over in a second):
 * 0.25 s, 0.5 s, 1 s. After that the delay grows exponentially from 2 s with full jitter — a
 * random delay between 0 and the ceiling, so thousands of clients cut off together don't come
 * back together — up to a cap of 30 s. Signs that the network is back (the browser's `online`
 * event, the tab becoming visible, "Retry now") skip the wait.
 */
export const FAST_RETRIES_MS = [250, 500, 1000] as const;
export const FIRST_SLOW_CEILING_MS = 2000;
export const RETRY_CAP_MS = 30_000;

/** The delay before retry number `failures` (1 = the first retry after a loss). */
export function reconnectDelay(failures: number, random: () => number = Math.random, capMs = RETRY_CAP_MS): number {
  if (failures <= 0) return 0;
  if (failures <= FAST_RETRIES_MS.length) return Math.min(capMs, FAST_RETRIES_MS[failures - 1]);
  const doublings = Math.min(failures - FAST_RETRIES_MS.length - 1, 30);
  const ceiling = Math.min(capMs, FIRST_SLOW_CEILING_MS * 2 ** doublings);
  return Math.round(random() * ceiling);
}
