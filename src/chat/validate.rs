//! Input rules, as parse-don't-validate constructors: holding the value means it is valid.
//!
//! Text that people read (room names, message bodies) is NFC-normalised and may not be made of,
//! or (for names) contain, characters that show nothing: controls, format characters such as
//! bidirectional overrides and zero-width spaces (Unicode's Default_Ignorable_Code_Point, as the
//! `unicode-security` crate's UTS 39 skeleton drops them). Passwords are prepared as RFC 8265's
//! OpaqueString (spaces mapped to U+0020, NFC) and their strength is estimated with `zxcvbn`.

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 1024;
pub const ROOM_NAME_MAX: usize = 64;
pub const TOPIC_MAX: usize = 256;
pub const BODY_MAX: usize = 4000;
pub const CLIENT_ID_MAX: usize = 64;
/// Every `limit` query parameter is at least this.
pub const LIMIT_MIN: u32 = 1;
/// Rooms or members in one answer of `GET /api/rooms` and `GET …/members`: the default bounds
/// the answer while keeping an ordinary install's whole list on one page.
pub const LIST_LIMIT_DEFAULT: u32 = 500;
pub const LIST_LIMIT_MAX: u32 = 1000;
/// Messages in one history page.
pub const HISTORY_LIMIT_DEFAULT: u32 = 50;
pub const HISTORY_LIMIT_MAX: u32 = 200;
/// Events in one answer of `GET …/events`.
pub const EVENTS_LIMIT_DEFAULT: u32 = 100;
pub const EVENTS_LIMIT_MAX: u32 = 1000;
/// The longest long-poll, in seconds.
pub const WAIT_MAX_SECS: u64 = 30;
/// The largest `after` seq: what the store can hold (2^63 - 1).
pub const AFTER_SEQ_MAX: u64 = i64::MAX as u64;

/// A `limit` query parameter: `default` when absent, else `LIMIT_MIN..=max`.
pub fn limit(value: Option<u32>, default: u32, max: u32) -> Result<u32> {
    let limit = value.unwrap_or(default);
    if !(LIMIT_MIN..=max).contains(&limit) {
        return Err(Error::InvalidRequest(format!(
            "limit is {LIMIT_MIN} to {max}"
        )));
    }
    Ok(limit)
}

/// The characters of a username: ASCII letters and digits, `_`, `-`, `.`.
pub fn username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The characters of a `client_id`: visible ASCII.
pub fn client_id_char(c: char) -> bool {
    c.is_ascii_graphic()
}

/// 3–32 letters, digits, `_`, `-`, `.`.
pub fn username(raw: &str) -> Result<&str> {
    let len = raw.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(Error::InvalidUsername("usernames are 3 to 32 characters"));
    }
    if !raw.chars().all(username_char) {
        return Err(Error::InvalidUsername(
            "usernames use only letters, digits, '_', '-' and '.'",
        ));
    }
    Ok(raw)
}

/// Least zxcvbn score (0–4) a new password needs: 3 is "safely unguessable" (about 10^10
/// guesses), what zxcvbn's authors suggest for sign-up.
pub const PASSWORD_MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// Characters of a password that the strength estimator looks at: its cost grows with the
/// length, and a password whose first 64 characters are strong is strong.
const PASSWORD_ESTIMATE_CHARS: usize = 64;

/// RFC 8265's OpaqueString preparation, as used on register and on login (it lives with the
/// hashing, which login needs without the rules).
pub use crate::credentials::prepare_password;

/// A new password for `username`: prepared (see [`prepare_password`]), at least 8 characters and
/// at most 1024 bytes, no control characters (NUL included), not only spaces, not the username,
/// and strong enough for zxcvbn ([`PASSWORD_MIN_SCORE`]). Answers the prepared password.
pub fn password(raw: &str, username: &str) -> Result<String> {
    let prepared = prepare_password(raw);
    let len = prepared.chars().count();
    if len < PASSWORD_MIN {
        return Err(Error::WeakPassword { min: PASSWORD_MIN });
    }
    if prepared.len() > PASSWORD_MAX {
        return Err(Error::InvalidRequest(format!(
            "passwords are at most {PASSWORD_MAX} bytes"
        )));
    }
    if prepared.chars().any(char::is_control) {
        return Err(Error::PasswordRefused(
            "passwords can't contain control characters",
        ));
    }
    if prepared.trim().is_empty() {
        return Err(Error::PasswordRefused("a password can't be only spaces"));
    }
    if prepared.to_lowercase() == username.to_lowercase() {
        return Err(Error::PasswordRefused("a password can't be the username"));
    }
    let head: String = prepared.chars().take(PASSWORD_ESTIMATE_CHARS).collect();
    if zxcvbn::zxcvbn(&head, &[username, "palaver"]).score() < PASSWORD_MIN_SCORE {
        return Err(Error::PasswordRefused(
            "that password is too easy to guess: use a longer one, or a few unrelated words",
        ));
    }
    Ok(prepared)
}

/// Whether a character shows nothing: a control, or a Default_Ignorable_Code_Point (zero-width
/// spaces and joiners, bidirectional controls, variation selectors, …; the characters UTS 39's
/// skeleton drops).
pub fn invisible(c: char) -> bool {
    let mut one = [0u8; 4];
    c.is_control()
        || unicode_security::skeleton(c.encode_utf8(&mut one))
            .next()
            .is_none()
}

/// 1–64 characters after trimming and NFC; no control, format or other invisible character
/// (zero-width spaces, bidirectional overrides, …). Answers the normalised name.
pub fn room_name(raw: &str) -> Result<String> {
    let name: String = raw.trim().nfc().collect();
    if name.is_empty() {
        return Err(Error::InvalidRoomName("room names can't be empty"));
    }
    if name.chars().count() > ROOM_NAME_MAX {
        return Err(Error::InvalidRoomName(
            "room names are at most 64 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidRoomName(
            "room names can't contain control characters",
        ));
    }
    if name.chars().any(invisible) {
        return Err(Error::InvalidRoomName(
            "room names can't contain invisible or text-direction characters",
        ));
    }
    Ok(name)
}

/// A seq a client asks for events after: at most 2^63 - 1 (what the store can hold); a larger
/// one is refused, never wrapped.
pub fn after_seq(after: u64) -> Result<u64> {
    if after > AFTER_SEQ_MAX {
        return Err(Error::InvalidRequest(format!(
            "after is at most {AFTER_SEQ_MAX}"
        )));
    }
    Ok(after)
}

pub fn topic(raw: &str) -> Result<&str> {
    let topic = raw.trim();
    if topic.chars().count() > TOPIC_MAX {
        return Err(Error::InvalidRequest(format!(
            "topics are at most {TOPIC_MAX} characters"
        )));
    }
    Ok(topic)
}

/// 1–4000 characters after trimming; the trimmed text is what is stored. No NUL (PostgreSQL
/// can't store it, so neither store does), and not only invisible characters.
pub fn body(raw: &str) -> Result<&str> {
    let body = raw.trim();
    if body.contains('\0') {
        return Err(Error::InvalidBody("a message can't contain NUL characters"));
    }
    if body.chars().all(|c| c.is_whitespace() || invisible(c)) {
        return Err(Error::BodyEmpty);
    }
    if body.chars().count() > BODY_MAX {
        return Err(Error::BodyTooLong { max: BODY_MAX });
    }
    Ok(body)
}

/// A report's reason: 1–500 characters after trimming, no NUL, not only invisible characters.
pub fn reason(raw: &str) -> Result<&str> {
    let reason = raw.trim();
    if reason.contains('\0') || reason.chars().all(|c| c.is_whitespace() || invisible(c)) {
        return Err(Error::InvalidReason("give a reason (visible text, no NUL)"));
    }
    if reason.chars().count() > REASON_MAX {
        return Err(Error::InvalidReason("a reason is at most 500 characters"));
    }
    Ok(reason)
}

/// Longest report reason, in characters.
pub const REASON_MAX: usize = 500;
pub const DISPLAY_NAME_MAX: usize = 64;
pub const BIO_MAX: usize = 500;
pub const TIMEZONE_MAX: usize = 64;

/// A display name: `None` (or `""` after trimming) clears it; else 1–64 characters after
/// trimming and NFC, with no control or invisible character (the room-name rules).
pub fn display_name(raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    let name: String = raw.trim().nfc().collect();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > DISPLAY_NAME_MAX {
        return Err(Error::InvalidProfile(
            "display names are at most 64 characters",
        ));
    }
    if name.chars().any(|c| c.is_control() || invisible(c)) {
        return Err(Error::InvalidProfile(
            "display names can't contain control, invisible or text-direction characters",
        ));
    }
    Ok(Some(name))
}

/// A bio: at most 500 characters after trimming and NFC; line breaks allowed, other controls
/// and text-direction overrides not.
pub fn bio(raw: &str) -> Result<String> {
    let bio: String = raw.trim().nfc().collect();
    if bio.chars().count() > BIO_MAX {
        return Err(Error::InvalidProfile("bios are at most 500 characters"));
    }
    let bad = |c: char| c != '\n' && (c.is_control() || invisible(c));
    if bio.chars().any(bad) {
        return Err(Error::InvalidProfile(
            "bios can't contain control, invisible or text-direction characters",
        ));
    }
    Ok(bio)
}

/// A time zone: `None` or `""` clears it; else shaped like an IANA tz database name
/// (`Europe/Paris`, `America/Argentina/Buenos_Aires`, `UTC`, `Etc/GMT+2`): at most 64 ASCII
/// letters, digits, `_`, `-`, `+`, in `/`-separated parts that start with a letter. (The server
/// carries no tz database; clients resolve the name.)
pub fn timezone(raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw.map(str::trim).filter(|tz| !tz.is_empty()) else {
        return Ok(None);
    };
    let refused = Error::InvalidProfile("time zones are IANA names such as Europe/Paris");
    if raw.len() > TIMEZONE_MAX {
        return Err(refused);
    }
    let part_ok = |part: &str| {
        part.starts_with(|c: char| c.is_ascii_alphabetic())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    if !raw.split('/').all(part_ok) {
        return Err(refused);
    }
    Ok(Some(raw.to_string()))
}

/// 1–64 visible ASCII characters: clients use UUIDs or counters.
pub fn client_id(raw: &str) -> Result<&str> {
    if raw.is_empty() || raw.len() > CLIENT_ID_MAX {
        return Err(Error::InvalidClientId(
            "client_id must be 1 to 64 characters",
        ));
    }
    if !raw.chars().all(client_id_char) {
        return Err(Error::InvalidClientId("client_id must be visible ASCII"));
    }
    Ok(raw)
}

// Replies, threads, reactions, pins (issue #10).

/// Most bytes of a reaction's emoji.
pub const EMOJI_MAX_BYTES: usize = 32;
/// Most characters between the colons of a `:shortcode:` reaction.
pub const SHORTCODE_MAX: usize = 30;
/// Most different emoji on one message.
pub const REACTIONS_PER_MESSAGE_MAX: usize = 50;
/// Most pinned messages in one room.
pub const PINS_PER_ROOM_MAX: usize = 100;
/// Thread pages: the same sizes as room history.
pub const THREAD_LIMIT_DEFAULT: u32 = HISTORY_LIMIT_DEFAULT;
pub const THREAD_LIMIT_MAX: u32 = HISTORY_LIMIT_MAX;

/// The characters of a `:shortcode:` between its colons.
pub fn shortcode_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '+' | '-')
}

/// A reaction: one emoji (a single emoji character or sequence: with its skin-tone modifier,
/// variation selector, keycap, tags, a flag's pair of regional indicators, or people joined
/// with zero-width joiners into one), or a `:shortcode:` of lowercase letters, digits, `_`,
/// `+`, `-`; at most [`EMOJI_MAX_BYTES`] bytes either way. Kept as sent (no normalisation).
pub fn emoji(raw: &str) -> Result<&str> {
    use unicode_properties::UnicodeEmoji;
    const REFUSED: &str = "a reaction is one emoji or a :shortcode:";
    if raw.is_empty() || raw.len() > EMOJI_MAX_BYTES {
        return Err(Error::InvalidEmoji(
            "a reaction is one emoji or a :shortcode: of at most 32 bytes",
        ));
    }
    if let Some(code) = raw.strip_prefix(':').and_then(|r| r.strip_suffix(':')) {
        if !code.is_empty() && code.len() <= SHORTCODE_MAX && code.chars().all(shortcode_char) {
            return Ok(raw);
        }
        return Err(Error::InvalidEmoji(REFUSED));
    }
    let chars: Vec<char> = raw.chars().collect();
    // A keycap: a digit, `#` or `*`, perhaps VS16, then U+20E3; no other ASCII is an emoji here.
    if chars.iter().any(char::is_ascii) {
        let keycap = matches!(
            chars.as_slice(),
            [c, '\u{20E3}'] | [c, '\u{FE0F}', '\u{20E3}'] if c.is_ascii_digit() || *c == '#' || *c == '*'
        );
        return if keycap {
            Ok(raw)
        } else {
            Err(Error::InvalidEmoji(REFUSED))
        };
    }
    let modifier = |c: char| matches!(c, '\u{1F3FB}'..='\u{1F3FF}');
    let regional = |c: char| matches!(c, '\u{1F1E6}'..='\u{1F1FF}');
    let tag = |c: char| matches!(c, '\u{E0020}'..='\u{E007F}');
    let mut bases = 0;
    let mut previous: Option<char> = None;
    let mut flag_open = false;
    for (i, &c) in chars.iter().enumerate() {
        let joined = previous == Some('\u{200D}');
        if c == '\u{200D}' {
            // A joiner joins two emoji: never first or last, never doubled.
            if i == 0 || i + 1 == chars.len() || joined {
                return Err(Error::InvalidEmoji(REFUSED));
            }
        } else if matches!(c, '\u{FE0F}' | '\u{FE0E}' | '\u{20E3}') || modifier(c) || tag(c) {
            if i == 0 {
                return Err(Error::InvalidEmoji(REFUSED));
            }
        } else if regional(c) {
            if flag_open {
                flag_open = false;
            } else {
                flag_open = true;
                if !joined {
                    bases += 1;
                }
            }
        } else if c.is_emoji_char() {
            flag_open = false;
            if !joined {
                bases += 1;
            }
        } else {
            return Err(Error::InvalidEmoji(REFUSED));
        }
        previous = Some(c);
    }
    if bases != 1 {
        return Err(Error::InvalidEmoji(REFUSED));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_checked() {
        assert_eq!(
            display_name(Some("  Ann ")).unwrap().as_deref(),
            Some("Ann")
        );
        assert_eq!(display_name(Some("  ")).unwrap(), None);
        assert_eq!(display_name(None).unwrap(), None);
        assert_eq!(
            display_name(Some("Cafe\u{301}")).unwrap().as_deref(),
            Some("Caf\u{e9}")
        );
        assert!(display_name(Some(&"a".repeat(65))).is_err());
        assert!(display_name(Some("ann\u{202e}")).is_err());
        assert!(display_name(Some("a\u{200b}b")).is_err());
        assert!(bio("line one\nline two").is_ok());
        assert!(bio(&"b".repeat(501)).is_err());
        assert!(bio("x\u{202e}").is_err());
        assert_eq!(
            timezone(Some("Europe/Paris")).unwrap().as_deref(),
            Some("Europe/Paris")
        );
        assert!(timezone(Some("America/Argentina/Buenos_Aires")).is_ok());
        assert!(timezone(Some("Etc/GMT+2")).is_ok() && timezone(Some("UTC")).is_ok());
        assert_eq!(timezone(Some("")).unwrap(), None);
        for bad in ["../etc/passwd", "Europe/", "/Paris", "Europe Paris", "1/2"] {
            assert!(timezone(Some(bad)).is_err(), "{bad}");
        }
        assert!(timezone(Some(&"A".repeat(65))).is_err());
    }

    #[test]
    fn usernames_follow_the_contract() {
        assert!(username("alice").is_ok());
        assert!(username("a.b-c_9").is_ok());
        assert!(username("al").is_err());
        assert!(username(&"a".repeat(33)).is_err());
        assert!(username("al ice").is_err());
        assert!(username("ålice").is_err());
    }

    #[test]
    fn bodies_are_trimmed_and_bounded_in_characters() {
        assert_eq!(body("  hi \n").unwrap(), "hi");
        assert!(matches!(body("   "), Err(Error::BodyEmpty)));
        assert!(body(&"é".repeat(4000)).is_ok());
        assert!(matches!(
            body(&"é".repeat(4001)),
            Err(Error::BodyTooLong { .. })
        ));
    }

    #[test]
    fn invisible_and_nul_bodies_are_refused() {
        assert!(matches!(body("\u{200b}\u{200b}"), Err(Error::BodyEmpty)));
        assert!(matches!(body("\u{feff} \u{2060}"), Err(Error::BodyEmpty)));
        assert!(matches!(body("\0\0"), Err(Error::InvalidBody(_))));
        assert!(matches!(body("a\0b"), Err(Error::InvalidBody(_))));
        assert_eq!(body("hi\u{200d}there").unwrap(), "hi\u{200d}there");
    }

    #[test]
    fn deceiving_room_names_are_refused_and_names_are_nfc() {
        for bad in [
            "General\u{200b}",
            "\u{202e}lareneG",
            "\u{200b}",
            "a\u{2066}b",
        ] {
            assert!(
                matches!(room_name(bad), Err(Error::InvalidRoomName(_))),
                "{bad:?}"
            );
        }
        assert_eq!(room_name("Cafe\u{301}").unwrap(), "Caf\u{e9}");
        assert_eq!(room_name("Caf\u{e9}").unwrap(), "Caf\u{e9}");
    }

    #[test]
    fn weak_passwords_are_refused() {
        for weak in [
            "password",
            "12345678",
            "        ",
            "\0\0\0\0\0\0\0\0",
            "qwertyuiop",
            "aliceinwonderland",
        ] {
            assert!(password(weak, "aliceinwonderland").is_err(), "{weak:?}");
        }
        assert!(password("correct horse battery staple", "alice").is_ok());
        assert!(matches!(
            password("short", "alice"),
            Err(Error::WeakPassword { .. })
        ));
    }

    #[test]
    fn passwords_are_prepared_as_opaque_strings() {
        let nfd = "Cafe\u{301} au lait, s'il vous pla\u{ee}t";
        let nfc = "Caf\u{e9} au lait, s'il vous pla\u{ee}t";
        assert_eq!(prepare_password(nfd), prepare_password(nfc));
        assert_eq!(password(nfd, "bob").unwrap(), nfc);
        assert_eq!(prepare_password("a\u{a0}b\u{3000}c"), "a b c");
    }

    #[test]
    fn after_beyond_the_store_is_refused() {
        assert_eq!(after_seq(i64::MAX as u64).unwrap(), i64::MAX as u64);
        assert!(after_seq(1 << 63).is_err());
        assert!(after_seq(u64::MAX).is_err());
    }

    #[test]
    fn room_names_and_client_ids_are_checked() {
        assert_eq!(room_name("  Tech Talk ").unwrap(), "Tech Talk");
        assert!(room_name("").is_err());
        assert!(room_name("a\u{0}b").is_err());
        assert!(client_id("c-1").is_ok());
        assert!(client_id("").is_err());
        assert!(client_id("a b").is_err());
    }

    #[test]
    fn reactions_are_one_emoji_or_a_shortcode() {
        for good in [
            "👍",
            "❤️",
            "🎉",
            ":tada:",
            ":+1:",
            "👍🏽",
            "🇫🇷",
            "1️⃣",
            "#⃣",
            "👩‍💻",
            "👨‍👩‍👧",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
        ] {
            assert_eq!(emoji(good).ok(), Some(good), "{good:?}");
        }
        let long = "😀".repeat(9);
        for bad in [
            "",
            "a",
            "ab",
            "1",
            "👍👍",
            "👍 ",
            " 👍",
            ":Tada:",
            "::",
            ":a b:",
            "\u{200D}👍",
            "👍\u{200D}",
            "\u{FE0F}",
            "🇫🇷🇩🇪",
            "<b>",
            "\u{202E}",
            long.as_str(),
        ] {
            assert!(emoji(bad).is_err(), "{bad:?}");
        }
    }
}
