//! Search (issue #11): the query language, who may find what, and the highlights.
//!
//! A query is parsed here into plain data ([`Parsed`]) and never passed on as text: the store
//! writes each dialect's match expression from tokens made only of letters and digits. The
//! language (docs/protocol.md, "Search"):
//! - `word word`: every word must appear (case folded); the last word of the query also matches
//!   as the start of a word, for searching while typing;
//! - `"a quoted phrase"`: those words one after another;
//! - a word with punctuation inside (`foo.bar`, `ann@example.com`, `https://x.org/a`,
//!   `max_retry`) is the phrase of its parts, which is how bodies are indexed;
//! - `-word`, `-"a phrase"`: must not appear;
//! - `from:name` (or `from:@name`): by that person; `in:room` (or `in:#room`, `in:"two words"`):
//!   in that room; `has:link`, `has:file`; `before:YYYY-MM-DD`, `after:YYYY-MM-DD`,
//!   `on:YYYY-MM-DD`: UTC days, `before:` and `after:` excluding the day named.
//!
//! Only rooms the caller may read are searched: every room the gate lets them read (public
//! rooms, their private rooms and DMs, and for a scoped bot only its rooms), less the rooms they
//! are banned from. `room_id` narrows to one room, asked of the gate like any other read.

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::protocol::{SearchHit, SearchResults, User};
use crate::store::page::{Key, Page};
use crate::store::{Phrase, SearchFilter};

use super::Chat;

/// Longest query, in characters.
pub const QUERY_MAX_CHARS: usize = 500;
/// Most words, phrases and operators in one query.
pub const QUERY_MAX_TERMS: usize = 32;
/// Results per page.
pub const SEARCH_LIMIT_DEFAULT: u32 = 20;
pub const SEARCH_LIMIT_MAX: u32 = 100;
/// Longest `before` cursor accepted.
pub const CURSOR_MAX_CHARS: usize = 64;
/// Rooms read per page while gathering the rooms to search.
const ROOMS_PAGE: u32 = 1000;

/// A query, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub phrases: Vec<Phrase>,
    pub excluded: Vec<Phrase>,
    /// `from:` names, lower case.
    pub from: Vec<String>,
    /// `in:` room names, lower case.
    pub rooms: Vec<String>,
    pub has_link: bool,
    pub has_file: bool,
    /// Start of the first day included (`after:` the next day, `on:` the day).
    pub since: Option<NaiveDate>,
    /// The first day excluded (`before:` the day, `on:` the next day).
    pub until: Option<NaiveDate>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidQuery(message.into())
}

/// Splits text into its words: runs of letters and digits, lower case, each with its span in
/// code points (start, end exclusive). The indexes split bodies the same way.
pub fn words(text: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut at = 0;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if current.is_empty() {
                start = at;
            }
            current.extend(c.to_lowercase());
        } else if !current.is_empty() {
            out.push((std::mem::take(&mut current), start, at));
        }
        at += 1;
    }
    if !current.is_empty() {
        out.push((current, start, at));
    }
    out
}

fn tokens(text: &str) -> Vec<String> {
    words(text).into_iter().map(|(w, _, _)| w).collect()
}

/// One piece of the query as written: a bare word, or a quoted phrase.
struct Piece {
    text: String,
    quoted: bool,
    negated: bool,
    /// `name:` before the value, lower case.
    operator: Option<String>,
    /// Nothing follows it (the user may still be typing it).
    last: bool,
}

const OPERATORS: &[&str] = &["from", "in", "has", "before", "after", "on"];

/// Cuts the query into pieces: whitespace separates them, except inside double quotes.
fn pieces(query: &str) -> Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let negated = chars.next_if_eq(&'-').is_some();
        let mut text = String::new();
        let mut quoted = false;
        let mut operator = None;
        loop {
            match chars.peek() {
                None => break,
                Some(c) if c.is_whitespace() => break,
                Some('"') => {
                    chars.next();
                    quoted = true;
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '"' {
                            closed = true;
                            break;
                        }
                        text.push(c);
                    }
                    if !closed {
                        return Err(invalid("a quote is not closed: add the closing \""));
                    }
                    break;
                }
                Some(':') if operator.is_none() && !quoted => {
                    let name = text.to_lowercase();
                    chars.next();
                    if OPERATORS.contains(&name.as_str()) {
                        operator = Some(name);
                        text.clear();
                    } else {
                        text.push(':');
                    }
                }
                Some(&c) => {
                    chars.next();
                    text.push(c);
                }
            }
        }
        // A quote closes the piece; what sticks to it (`"a"b`) starts the next one.
        out.push(Piece {
            text,
            quoted,
            negated,
            operator,
            last: false,
        });
        if out.len() > QUERY_MAX_TERMS {
            return Err(invalid(format!(
                "a query has at most {QUERY_MAX_TERMS} words, phrases and operators"
            )));
        }
    }
    let ends_in_space = query.chars().last().is_some_and(char::is_whitespace);
    if let Some(piece) = out.last_mut() {
        piece.last = !ends_in_space;
    }
    Ok(out)
}

fn day(operator: &str, value: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        invalid(format!(
            "{operator}: takes a day as YYYY-MM-DD, e.g. {operator}:2026-01-31"
        ))
    })
}

fn later(a: Option<NaiveDate>, b: NaiveDate) -> Option<NaiveDate> {
    Some(a.map_or(b, |a| a.max(b)))
}

fn earlier(a: Option<NaiveDate>, b: NaiveDate) -> Option<NaiveDate> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Parses a query. `invalid_query` for what the language can't read: an open quote, an operator
/// without its value or with a wrong one, too long a query, nothing to look for.
pub fn parse(query: &str) -> Result<Parsed> {
    if query.chars().count() > QUERY_MAX_CHARS {
        return Err(invalid(format!(
            "a query is at most {QUERY_MAX_CHARS} characters"
        )));
    }
    let mut parsed = Parsed::default();
    for piece in pieces(query)? {
        if let Some(operator) = &piece.operator {
            if piece.negated {
                return Err(invalid(format!(
                    "-{operator}: is not supported: only words and phrases can be excluded"
                )));
            }
            let value = piece.text.trim();
            if value.is_empty() {
                return Err(invalid(format!(
                    "{operator}: needs a value after the colon"
                )));
            }
            match operator.as_str() {
                "from" => {
                    let name = value.trim_start_matches('@');
                    if name.is_empty() || !name.chars().all(super::validate::username_char) {
                        return Err(invalid("from: takes a username, e.g. from:ann"));
                    }
                    parsed.from.push(crate::store::accounts::username_key(name));
                }
                "in" => parsed
                    .rooms
                    .push(value.trim_start_matches('#').to_lowercase()),
                "has" => match value.to_lowercase().as_str() {
                    "link" => parsed.has_link = true,
                    "file" => parsed.has_file = true,
                    _ => return Err(invalid("has: takes link or file")),
                },
                "before" => parsed.until = earlier(parsed.until, day("before", value)?),
                "after" => {
                    let next = day("after", value)?
                        .succ_opt()
                        .ok_or_else(|| invalid("after: that day has no next"))?;
                    parsed.since = later(parsed.since, next);
                }
                "on" => {
                    let on = day("on", value)?;
                    let next = on
                        .succ_opt()
                        .ok_or_else(|| invalid("on: that day has no next"))?;
                    parsed.since = later(parsed.since, on);
                    parsed.until = earlier(parsed.until, next);
                }
                _ => unreachable!("OPERATORS lists the names matched here"),
            }
            continue;
        }
        let tokens = tokens(&piece.text);
        if tokens.is_empty() {
            // Punctuation alone (`*`, `(`, `;`): nothing to look for.
            continue;
        }
        let phrase = Phrase {
            // The word being typed matches as a prefix (from its second letter: one letter
            // begins too many words to be worth it); a quoted phrase is exact.
            prefix: piece.last
                && !piece.quoted
                && !piece.negated
                && tokens.last().is_some_and(|t| t.chars().count() >= 2),
            tokens,
        };
        if piece.negated {
            parsed.excluded.push(phrase);
        } else {
            parsed.phrases.push(phrase);
        }
    }
    let filters = !parsed.from.is_empty()
        || !parsed.rooms.is_empty()
        || parsed.has_link
        || parsed.has_file
        || parsed.since.is_some()
        || parsed.until.is_some();
    if parsed.phrases.is_empty() && !filters {
        return Err(invalid(
            "nothing to search for: type a word, a \"phrase\" or an operator such as from:name",
        ));
    }
    Ok(parsed)
}

/// Where in `body` the query's phrases match: code-point spans, sorted, overlaps merged.
pub fn highlights(body: &str, phrases: &[Phrase]) -> Vec<[u32; 2]> {
    let words = words(body);
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for phrase in phrases {
        let n = phrase.tokens.len();
        if n == 0 || n > words.len() {
            continue;
        }
        for at in 0..=words.len() - n {
            let matches = phrase.tokens.iter().enumerate().all(|(k, token)| {
                let word = &words[at + k].0;
                if phrase.prefix && k == n - 1 {
                    word.starts_with(token.as_str())
                } else {
                    word == token
                }
            });
            if matches {
                spans.push((words[at].1, words[at + n - 1].2));
            }
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<[u32; 2]> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start as u32 <= last[1] => last[1] = last[1].max(end as u32),
            _ => merged.push([start as u32, end as u32]),
        }
    }
    merged
}

/// The start of a UTC day as the store writes times.
fn start_of(day: NaiveDate) -> String {
    crate::store::timestamp(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}

impl Chat {
    /// Searches the messages the user may read, newest first.
    pub async fn search(
        &self,
        user: &User,
        query: &str,
        room_id: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<SearchResults> {
        let parsed = parse(query)?;
        if let Some(before) = before {
            if before.is_empty() || before.len() > CURSOR_MAX_CHARS {
                return Err(Error::InvalidRequest(
                    "before is not a cursor from a search page".into(),
                ));
            }
        }
        let room_ids = self.rooms_to_search(user, room_id, &parsed.rooms).await?;
        let filter = SearchFilter {
            phrases: parsed.phrases.clone(),
            excluded: parsed.excluded,
            room_ids,
            authors: parsed.from,
            has_link: parsed.has_link,
            has_file: parsed.has_file,
            since: parsed.since.map(start_of),
            until: parsed.until.map(start_of),
            before: before.map(str::to_string),
            limit,
        };
        let page = self.store.search(&filter).await?;
        let results = page
            .messages
            .into_iter()
            .map(|message| SearchHit {
                highlights: highlights(&message.body, &parsed.phrases),
                message,
            })
            .collect();
        Ok(SearchResults {
            results,
            next_before: page.next_before,
        })
    }

    /// The ids of the rooms to look in: `room_id` if given (the gate asked), else every room
    /// the gate lets the user read; less those they are banned from; narrowed by `in:` names.
    async fn rooms_to_search(
        &self,
        user: &User,
        room_id: Option<&str>,
        names: &[String],
    ) -> Result<Vec<String>> {
        let mut rooms = Vec::new();
        match room_id {
            Some(room_id) => {
                self.gate.read(user, room_id).await?;
                rooms.push(self.store.get_room(room_id).await?);
            }
            None => {
                let mut page = Page {
                    after: None,
                    limit: ROOMS_PAGE,
                };
                loop {
                    let found = self.store.rooms_page_for(&user.id, &page).await?;
                    let readable = self.gate.readable(user, found.items).await?;
                    rooms.extend(readable.into_iter().map(|(room, _)| room));
                    match found.next {
                        Some(next) => page.after = Some(Key::parse(&next)?),
                        None => break,
                    }
                }
            }
        }
        let banned = self.store.banned_room_ids(&user.id).await?;
        Ok(rooms
            .into_iter()
            .filter(|room| !banned.contains(&room.id))
            .filter(|room| names.is_empty() || names.contains(&room.name.to_lowercase()))
            .map(|room| room.id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrase(tokens: &[&str], prefix: bool) -> Phrase {
        Phrase {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            prefix,
        }
    }

    #[test]
    fn words_split_on_everything_but_letters_and_digits() {
        let found: Vec<String> = tokens("Mail ann.lee@example.com: see https://x.org/a_b?q=1 café");
        assert_eq!(
            found,
            [
                "mail", "ann", "lee", "example", "com", "see", "https", "x", "org", "a", "b", "q",
                "1", "café"
            ]
        );
    }

    #[test]
    fn the_query_language_parses() {
        let parsed = parse(
            "deploy \"release notes\" -draft from:@Ann in:#General has:link on:2026-03-04 foo.ba",
        )
        .unwrap();
        assert_eq!(
            parsed.phrases,
            vec![
                phrase(&["deploy"], false),
                phrase(&["release", "notes"], false),
                phrase(&["foo", "ba"], true)
            ]
        );
        assert_eq!(parsed.excluded, vec![phrase(&["draft"], false)]);
        assert_eq!(parsed.from, vec!["ann"]);
        assert_eq!(parsed.rooms, vec!["general"]);
        assert!(parsed.has_link && !parsed.has_file);
        assert_eq!(parsed.since, NaiveDate::from_ymd_opt(2026, 3, 4));
        assert_eq!(parsed.until, NaiveDate::from_ymd_opt(2026, 3, 5));
        // A trailing space: the last word is whole.
        assert!(!parse("deploy ").unwrap().phrases[0].prefix);
        // An unknown operator is text.
        assert_eq!(
            parse("http://xy").unwrap().phrases,
            vec![phrase(&["http", "xy"], true)]
        );
        // One letter last is exact: it would begin too many words.
        assert!(!parse("http://x").unwrap().phrases[0].prefix);
        assert_eq!(
            parse("in:\"two words\" x").unwrap().rooms,
            vec!["two words"]
        );
    }

    #[test]
    fn bad_queries_are_refused_with_a_reason() {
        for bad in [
            "",
            "   ",
            "\"open",
            "from:",
            "has:cake",
            "before:yesterday",
            "on:2026-02-30",
            "-from:ann x",
            "-alone",
            "* ^ (",
            &"x ".repeat(40),
            &"y".repeat(QUERY_MAX_CHARS + 1),
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_query", "{bad:?}");
        }
        // FTS and SQL syntax is only words.
        assert_eq!(
            parse("NEAR(a b) x* ^y; DROP TABLE messages; --")
                .unwrap()
                .phrases
                .len(),
            7
        );
    }

    #[test]
    fn highlights_are_code_point_spans_of_the_matches() {
        let body = "Ünïcode café: see foo.bar and Foo bar, fooled";
        let spans = highlights(
            body,
            &[phrase(&["foo", "bar"], false), phrase(&["café"], false)],
        );
        assert_eq!(spans, vec![[8, 12], [18, 25], [30, 37]]);
        let chars: Vec<char> = body.chars().collect();
        let text = |s: [u32; 2]| {
            chars[s[0] as usize..s[1] as usize]
                .iter()
                .collect::<String>()
        };
        assert_eq!(text(spans[1]), "foo.bar");
        let prefix = highlights(body, &[phrase(&["foo"], true)]);
        assert_eq!(prefix.len(), 3);
        assert_eq!(text(prefix[2]), "fooled");
    }
}
