//! Keyset paging of lists that may grow large (rooms, a room's members): a page is the rows
//! after a key in a stable order, at most `limit` of them, and the cursor of the next page.
//!
//! A cursor is the sort key of the last row of a page (a time as the store writes it, and an
//! id), opaque to clients: base64url of `time`, a unit separator, `id`. Keyset paging, unlike
//! offsets, neither skips nor repeats a row when rows before the cursor come or go between two
//! pages, and each page is one index range.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{Error, Result};

/// Where a page starts and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The key of the last row of the previous page; `None`: the first page.
    pub after: Option<Key>,
    /// At most this many rows.
    pub limit: u32,
}

impl Page {
    pub fn first(limit: u32) -> Page {
        Page { after: None, limit }
    }
}

/// A row's place in a paged order: a time (RFC 3339 as the store writes it), then an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub at: String,
    pub id: String,
}

const SEPARATOR: char = '\u{1f}';

impl Key {
    /// The opaque cursor a client sends back as `after`.
    pub fn cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}{SEPARATOR}{}", self.at, self.id))
    }

    /// Reads a cursor made by [`Key::cursor`]; anything else is `invalid_request`.
    pub fn parse(cursor: &str) -> Result<Key> {
        let refused = || Error::InvalidRequest("after is not a cursor this server gave out".into());
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refused())?;
        let text = String::from_utf8(bytes).map_err(|_| refused())?;
        let (at, id) = text.split_once(SEPARATOR).ok_or_else(refused)?;
        let plain =
            |s: &str| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_graphic());
        if !plain(at) || !plain(id) {
            return Err(refused());
        }
        Ok(Key {
            at: at.to_string(),
            id: id.to_string(),
        })
    }
}

/// One page of rows and the cursor of the next one (`None`: this was the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Paged<T> {
    /// From up to `limit + 1` rows read in order: the first `limit`, and when there was one more,
    /// the cursor of the last row kept.
    pub fn from_rows(mut rows: Vec<(Key, T)>, limit: u32) -> Paged<T> {
        let limit = limit as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = match more {
            true => rows.last().map(|(key, _)| key.cursor()),
            false => None,
        };
        Paged {
            items: rows.into_iter().map(|(_, item)| item).collect(),
            next,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_its_key() {
        let key = Key {
            at: "2026-12-05T09:57:37.123Z".into(),
            id: "0193a1b2c3d4e5f60718293a4b5c6d7e".into(),
        };
        assert_eq!(Key::parse(&key.cursor()).unwrap(), key);
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "!!", "abc", &URL_SAFE_NO_PAD.encode("no separator")] {
            assert!(Key::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_row_more_than_the_limit_makes_a_next_cursor() {
        let key = |i: u32| Key {
            at: format!("t{i}"),
            id: format!("{i}"),
        };
        let rows: Vec<_> = (0..3).map(|i| (key(i), i)).collect();
        let page = Paged::from_rows(rows.clone(), 2);
        assert_eq!(page.items, vec![0, 1]);
        assert_eq!(page.next, Some(key(1).cursor()));
        let page = Paged::from_rows(rows, 3);
        assert_eq!((page.items.len(), page.next), (3, None));
    }
}
