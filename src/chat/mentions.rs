//! Mentions (issue #10): which `@name`, `@room` and `@here` a body holds, and whom they name.
//!
//! A mention is `@` at the start of the body or after a character that can't be in a username
//! (so `ann@example.com` mentions nobody), followed by a username (its characters: ASCII
//! letters, digits, `_`, `-`, `.`), matched ignoring case; a trailing `.`, `-` or `_` that makes
//! no known name is dropped (`@ann.` at the end of a sentence mentions `ann`). Nothing inside
//! inline code (`` `@ann` ``) or a fenced code block (```` ``` ```` or `~~~` lines) mentions.
//! `@room` mentions every member of the room, `@here` the members online in it (subscribed on
//! any node) — when the room lets the author mention everyone (`mention_everyone`: anyone, or
//! moderators only; from anyone else the words are plain text, the message is still sent).
//! Only people who may read the room are mentioned: in a private room or DM its members, in a
//! public room anyone not banned from it. A person named who may not read it is not mentioned,
//! and nothing tells the author whether they exist.

use std::collections::BTreeSet;

use crate::error::Result;
use crate::protocol::{MentionEveryone, User};

use super::access::Need;
use super::validate::{username_char, USERNAME_MAX, USERNAME_MIN};
use super::Chat;

/// Most distinct `@name`s of one message that are looked up.
pub const NAMES_MAX: usize = 50;

/// What a body mentions, before anyone is looked up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The username keys (lowercase) named, each with its trimmed fallback, in order, at most
    /// [`NAMES_MAX`] names.
    pub names: Vec<(String, Option<String>)>,
    pub room: bool,
    pub here: bool,
}

/// The mentions of a body (see the module's doc).
pub fn parse(body: &str) -> Parsed {
    let mut parsed = Parsed::default();
    if !body.contains('@') {
        return parsed;
    }
    let mut seen = BTreeSet::new();
    for text in outside_code(body) {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        for (i, &(at, c)) in chars.iter().enumerate() {
            if c != '@' || (i > 0 && username_char(chars[i - 1].1)) {
                continue;
            }
            let start = at + 1;
            let end = text[start..]
                .find(|c: char| !username_char(c))
                .map_or(text.len(), |n| start + n);
            let name = text[start..end].to_ascii_lowercase();
            let trimmed = name.trim_end_matches(['.', '-', '_']).to_string();
            match trimmed.as_str() {
                "room" => parsed.room = true,
                "here" => parsed.here = true,
                _ => {}
            }
            if matches!(trimmed.as_str(), "room" | "here") {
                continue;
            }
            if parsed.names.len() >= NAMES_MAX || !seen.insert(name.clone()) {
                continue;
            }
            let fits = |n: &str| (USERNAME_MIN..=USERNAME_MAX).contains(&n.len());
            let fallback = (trimmed != name && fits(&trimmed)).then_some(trimmed);
            if fits(&name) || fallback.is_some() {
                parsed.names.push((name, fallback));
            }
        }
    }
    parsed
}

/// The parts of a body outside inline code and fenced code blocks.
fn outside_code(body: &str) -> Vec<&str> {
    // (A fenced block closes the paragraph before it; inline code spans stay within one.)
    let mut parts = Vec::new();
    let mut fence: Option<&str> = None;
    let mut paragraph_start: Option<usize> = None;
    let mut offset = 0;
    fn flush<'a>(body: &'a str, parts: &mut Vec<&'a str>, from: Option<usize>, to: usize) {
        if let Some(from) = from {
            inline_outside(&body[from..to], parts);
        }
    }
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim_start_matches(' ');
        let marker = ["```", "~~~"]
            .into_iter()
            .find(|m| line.len() - trimmed.len() <= 3 && trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(marker)) => {
                flush(body, &mut parts, paragraph_start.take(), offset);
                fence = Some(marker);
            }
            (Some(open), Some(marker)) if open == marker => fence = None,
            (Some(_), _) => {}
            (None, None) => {
                paragraph_start.get_or_insert(offset);
            }
        }
        offset += line.len();
    }
    flush(body, &mut parts, paragraph_start, offset);
    parts
}

/// The parts of text outside its inline code spans: a run of backticks opens one that the next
/// run of the same length closes; a run that nothing closes is plain text.
fn inline_outside<'a>(text: &'a str, parts: &mut Vec<&'a str>) {
    let bytes = text.as_bytes();
    let mut plain_from = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < bytes.len() && bytes[i] == b'`' {
            i += 1;
        }
        let run = i - run_start;
        // Find the closing run of exactly `run` backticks.
        let mut j = i;
        let mut closed = None;
        while j < bytes.len() {
            if bytes[j] == b'`' {
                let s = j;
                while j < bytes.len() && bytes[j] == b'`' {
                    j += 1;
                }
                if j - s == run {
                    closed = Some(j);
                    break;
                }
            } else {
                j += 1;
            }
        }
        if let Some(end) = closed {
            parts.push(&text[plain_from..run_start]);
            plain_from = end;
            i = end;
        }
    }
    parts.push(&text[plain_from..]);
}

impl Chat {
    /// The ids of the people `body` mentions in the room, by `author` (see the module's doc),
    /// each once, in the order named (everyone of `@room`/`@here` after the names).
    pub(super) async fn mentions(
        &self,
        author: &User,
        room_id: &str,
        body: &str,
    ) -> Result<Vec<String>> {
        let parsed = parse(body);
        if parsed.names.is_empty() && !parsed.room && !parsed.here {
            return Ok(Vec::new());
        }
        let mut keys: Vec<String> = Vec::new();
        for (name, fallback) in &parsed.names {
            keys.push(name.clone());
            keys.extend(fallback.clone());
        }
        let found = self.store.users_by_keys(&keys).await?;
        let by_key = |key: &str| found.iter().find(|u| u.username.eq_ignore_ascii_case(key));
        let mut ids: Vec<String> = Vec::new();
        for (name, fallback) in &parsed.names {
            let user = by_key(name).or_else(|| fallback.as_deref().and_then(by_key));
            let Some(user) = user else { continue };
            if ids.contains(&user.id) {
                continue;
            }
            if user.id == author.id || self.gate.read(user, room_id).await.is_ok() {
                ids.push(user.id.clone());
            }
        }
        if parsed.room || parsed.here {
            let room = self.store.get_room(room_id).await?;
            let may = match room.mention_everyone {
                MentionEveryone::Anyone => true,
                MentionEveryone::Moderators => self
                    .gate
                    .require(author, room_id, Need::Moderate, "moderators only")
                    .await
                    .is_ok(),
            };
            if may {
                let members = self.store.member_ids(room_id).await?;
                let online: Option<Vec<String>> = (!parsed.room)
                    .then(|| self.hub.online(room_id).into_iter().map(|u| u.id).collect());
                for id in members {
                    let counted = online.as_ref().is_none_or(|o| o.contains(&id));
                    if counted && !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(body: &str) -> Vec<String> {
        parse(body).names.into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn names_are_found_at_word_starts_ignoring_case() {
        assert_eq!(names("hi @Ann and @bob_2!"), ["ann", "bob_2"]);
        assert_eq!(names("mail ann@example.com"), Vec::<String>::new());
        assert_eq!(names("@ann @ANN"), ["ann"]);
        assert_eq!(
            names("@a"),
            Vec::<String>::new(),
            "too short for a username"
        );
        let parsed = parse("thanks @ann.");
        assert_eq!(parsed.names, [("ann.".into(), Some("ann".into()))]);
    }

    #[test]
    fn room_and_here_are_seen() {
        let p = parse("@room look");
        assert!(p.room && !p.here);
        let p = parse("ping @here.");
        assert!(p.here && !p.room);
        assert!(!parse("@roomy").room);
    }

    #[test]
    fn code_mentions_nobody() {
        assert_eq!(names("`@ann` @bob"), ["bob"]);
        assert_eq!(names("``a ` @ann`` @bob"), ["bob"]);
        assert_eq!(names("```\n@ann\n```\n@bob"), ["bob"]);
        assert_eq!(names("~~~rust\n@ann\n~~~\n@bob"), ["bob"]);
        assert_eq!(names("an unclosed ` @ann"), ["ann"]);
        assert_eq!(names("```\n@ann never closed"), Vec::<String>::new());
    }
}
