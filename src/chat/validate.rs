//! Input rules, as parse-don't-validate constructors: holding the value means it is valid.

use crate::error::{Error, Result};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 1024;
pub const ROOM_NAME_MAX: usize = 64;
pub const TOPIC_MAX: usize = 256;
pub const BODY_MAX: usize = 4000;
pub const CLIENT_ID_MAX: usize = 64;

/// 3–32 letters, digits, `_`, `-`, `.`.
pub fn username(raw: &str) -> Result<&str> {
    let len = raw.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(Error::InvalidUsername("usernames are 3 to 32 characters"));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(Error::InvalidUsername(
            "usernames use only letters, digits, '_', '-' and '.'",
        ));
    }
    Ok(raw)
}

pub fn password(raw: &str) -> Result<&str> {
    let len = raw.chars().count();
    if len < PASSWORD_MIN {
        return Err(Error::WeakPassword { min: PASSWORD_MIN });
    }
    if raw.len() > PASSWORD_MAX {
        return Err(Error::InvalidRequest(format!(
            "passwords are at most {PASSWORD_MAX} bytes"
        )));
    }
    Ok(raw)
}

/// 1–64 characters after trimming, no control characters.
pub fn room_name(raw: &str) -> Result<&str> {
    let name = raw.trim();
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
    Ok(name)
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

/// 1–4000 characters after trimming; the trimmed text is what is stored.
pub fn body(raw: &str) -> Result<&str> {
    let body = raw.trim();
    if body.is_empty() {
        return Err(Error::BodyEmpty);
    }
    if body.chars().count() > BODY_MAX {
        return Err(Error::BodyTooLong { max: BODY_MAX });
    }
    Ok(body)
}

/// 1–64 visible ASCII characters: clients use UUIDs or counters.
pub fn client_id(raw: &str) -> Result<&str> {
    if raw.is_empty() || raw.len() > CLIENT_ID_MAX {
        return Err(Error::InvalidClientId(
            "client_id must be 1 to 64 characters",
        ));
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidClientId("client_id must be visible ASCII"));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn room_names_and_client_ids_are_checked() {
        assert_eq!(room_name("  Tech Talk ").unwrap(), "Tech Talk");
        assert!(room_name("").is_err());
        assert!(room_name("a\u{0}b").is_err());
        assert!(client_id("c-1").is_ok());
        assert!(client_id("").is_err());
        assert!(client_id("a b").is_err());
    }
}
