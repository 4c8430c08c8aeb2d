/** Small, failure-proof wrappers over localStorage (private mode and full disks throw). */
export function readJson<T>(key: string, fallback: T): T {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : (JSON.parse(raw) as T);
  } catch {
    return fallback;
  }
}

export function writeJson(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Nothing sensible to do: the in-memory copy still works for this tab.
  }
}

export function readString(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function writeString(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // ignored, as above
  }
}

export const keys = {
  theme: "palaver.theme",
  sound: "palaver.sound",
  outbox: (userId: string) => `palaver.outbox.${userId}`,
  joined: (userId: string) => `palaver.joined.${userId}`,
  read: (userId: string) => `palaver.read.${userId}`,
  lastRoom: (userId: string) => `palaver.room.${userId}`,
};
