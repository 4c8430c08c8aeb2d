/**
 * A small emoji picker: a search box and a grid by category over the gemoji data set (the same
 * data the `:shortcode:` formatting uses, so the picker adds no data of its own to the bundle).
 * Escape closes it; arrow keys move in the grid.
 */
import { gemoji } from "gemoji";
import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";

const CATEGORIES = [...new Set(gemoji.map((g) => g.category))];
const SHORT: Record<string, string> = {
  "Smileys & Emotion": "😀",
  "People & Body": "👋",
  "Animals & Nature": "🐻",
  "Food & Drink": "🍔",
  "Travel & Places": "✈️",
  Activities: "⚽",
  Objects: "💡",
  Symbols: "❤️",
  Flags: "🏳️",
};

export function EmojiPicker({ onPick, onClose, inline = false }: { onPick: (emoji: string) => void; onClose: () => void; inline?: boolean }) {
  const [query, setQuery] = useState("");
  const [category, setCategory] = useState(CATEGORIES[0]);
  const grid = useRef<HTMLDivElement>(null);
  const search = useRef<HTMLInputElement>(null);

  useEffect(() => {
    search.current?.focus();
  }, []);

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase().replace(/^:/, "").replace(/:$/, "");
    if (!q) return gemoji.filter((g) => g.category === category);
    return gemoji
      .filter((g) => g.names.some((n) => n.includes(q)) || g.tags.some((t) => t.includes(q)) || g.description.includes(q))
      .slice(0, 120);
  }, [query, category]);

  function onKeyDown(e: KeyboardEvent) {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      onClose();
      return;
    }
    const buttons = [...(grid.current?.querySelectorAll<HTMLButtonElement>("button") ?? [])];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 8, ArrowUp: -8 }[e.key];
    if (step === undefined) return;
    if (at === -1 && e.key === "ArrowDown") {
      e.preventDefault();
      buttons[0]?.focus();
      return;
    }
    if (at === -1) return;
    e.preventDefault();
    const next = at + step;
    if (next < 0) search.current?.focus();
    else buttons[Math.min(next, buttons.length - 1)]?.focus();
  }

  return (
    <div className={`emoji-picker${inline ? " inline" : ""}`} role="dialog" aria-label="Pick an emoji" onKeyDown={onKeyDown} data-testid="emoji-picker">
      <input
        ref={search}
        type="search"
        placeholder="Search emoji"
        aria-label="Search emoji"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && shown[0]) {
            e.preventDefault();
            onPick(shown[0].emoji);
          }
        }}
      />
      {!query && (
        <div className="emoji-cats" role="tablist" aria-label="Categories">
          {CATEGORIES.map((c) => (
            <button key={c} role="tab" aria-selected={c === category} title={c} aria-label={c} className={c === category ? "active" : ""} onClick={() => setCategory(c)}>
              {SHORT[c] ?? c[0]}
            </button>
          ))}
        </div>
      )}
      <div className="emoji-grid" ref={grid}>
        {shown.map((g) => (
          <button key={g.emoji} className="emoji-btn" title={`:${g.names[0]}:`} aria-label={g.description} onClick={() => onPick(g.emoji)}>
            {g.emoji}
          </button>
        ))}
        {shown.length === 0 && <p className="muted small">No emoji found</p>}
      </div>
    </div>
  );
}
