import { useEffect, useState } from "react";
import { useChat } from "../store";

export function TypingLine({ roomId }: { roomId: string }) {
  const typing = useChat((s) => s.views[roomId]?.typing);
  const [now, setNow] = useState(() => Date.now());
  const entries = Object.values(typing ?? {});
  const active = entries.filter((t) => t.until > now).map((t) => t.user.username);
  const pending = entries.some((t) => t.until > now);
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [pending]);
  useEffect(() => setNow(Date.now()), [typing]);
  let text = "";
  if (active.length === 1) text = `${active[0]} is typing…`;
  else if (active.length === 2) text = `${active[0]} and ${active[1]} are typing…`;
  else if (active.length > 2) text = "Several people are typing…";
  return (
    <div className="typing-line" data-testid="typing">
      {text && (
        <>
          <span className="typing-dots" aria-hidden="true">
            <i />
            <i />
            <i />
          </span>
          {text}
        </>
      )}
    </div>
  );
}
