//! Replies and threads (issue #10): what a send names besides its room, and a thread's pages.
//!
//! A reply (`reply_to`) names any live message of the room; a thread reply (`thread_id`) posts
//! into the thread of a message: its own when it is top-level, its first message's when it is
//! itself a thread reply. The store checks both in the send's transaction (`message_not_found`
//! otherwise). A thread reply is a room event like any message (the room's next `seq`,
//! idempotent by `client_id`), but room history pages leave it out: [`Chat::thread_messages`]
//! pages a thread.

use crate::error::{Error, Result};
use crate::protocol::User;
use crate::store::MessagesPage;

use super::Chat;

/// What a send answers or joins, as the client named it.
#[derive(Debug, Clone, Default)]
pub struct Threading {
    pub reply_to: Option<String>,
    pub thread_id: Option<String>,
}

/// Most bytes of a message id a client may name (ids are 32 hex digits).
const MESSAGE_ID_MAX: usize = 64;

/// A message id of a reasonable shape: anything else names no message, and never reaches the
/// store (PostgreSQL refuses a NUL in text).
pub(super) fn shaped_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MESSAGE_ID_MAX && id.bytes().all(|b| b.is_ascii_graphic())
}

impl Threading {
    /// Ids of a reasonable shape; anything else names no message.
    pub(super) fn checked(self) -> Result<Threading> {
        let shaped = |id: &Option<String>| id.as_deref().is_none_or(shaped_id);
        if shaped(&self.reply_to) && shaped(&self.thread_id) {
            Ok(self)
        } else {
            Err(Error::MessageNotFound)
        }
    }
}

impl Chat {
    /// A page of a thread's replies in display order, just before `before` or the last one,
    /// without its first message `root_id`.
    pub async fn thread_messages(
        &self,
        user: &User,
        room_id: &str,
        root_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage> {
        self.gate.read(user, room_id).await?;
        self.store
            .thread_messages_before(room_id, root_id, before, limit)
            .await
    }
}
