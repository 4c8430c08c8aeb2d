//! The one error type of Palaver's public surface.
//!
//! REST answers it as `{"error": {"code", "message"}}` with a fitting status; the socket answers it
//! as an `error` frame. Codes are part of the contract (`API.md`): add new ones, never rename.
//! Internal failures are logged with their cause and reach the client only as `internal`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::protocol::{ErrorBody, ErrorDetail};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the request is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidFrame(String),
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("sign in first")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("no such room")]
    RoomNotFound,
    #[error("no such message")]
    MessageNotFound,
    #[error("the message is empty")]
    BodyEmpty,
    #[error("the message is longer than {max} characters")]
    BodyTooLong { max: usize },
    #[error("{0}")]
    InvalidClientId(&'static str),
    #[error("too many requests; slow down")]
    RateLimited,
    #[error("{0}")]
    RateLimitedBecause(&'static str),
    #[error("{0}")]
    InvalidUsername(&'static str),
    #[error("passwords need at least {min} characters")]
    WeakPassword { min: usize },
    #[error("{0}")]
    PasswordRefused(&'static str),
    #[error("{0}")]
    InvalidBody(&'static str),
    #[error("{0}")]
    CrossOrigin(&'static str),
    #[error("that username is taken")]
    UsernameTaken,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("{0}")]
    InvalidRoomName(&'static str),
    #[error("a room with that name exists")]
    RoomNameTaken,
    #[error("guest sign-in is switched off on this server")]
    GuestsDisabled,
    #[error("no such resource")]
    NotFound,
    #[error("no such user")]
    UserNotFound,
    #[error("no such invite")]
    InviteNotFound,
    #[error("this invite has expired or been used up")]
    InviteExpired,
    #[error("{0}")]
    InvalidRole(&'static str),
    #[error("a DM holds at most {max} people")]
    TooManyMembers { max: usize },
    #[error("the current password is wrong")]
    InvalidPassword,
    #[error("this account is not a guest")]
    NotAGuest,
    #[error("{0}")]
    InvalidProfile(&'static str),
    #[error("no such session")]
    SessionNotFound,
    #[error("a connection may subscribe to at most {max} rooms")]
    TooManySubscriptions { max: usize },
    #[error("you may own at most {max} rooms")]
    TooManyRooms { max: usize },
    #[error("no such bot of yours")]
    BotNotFound,
    #[error("no such webhook")]
    WebhookNotFound,
    #[error("you may own at most {max} bots")]
    TooManyBots { max: usize },
    #[error("a room may have at most {max} webhooks")]
    TooManyWebhooks { max: usize },
    #[error("you have too many connections open")]
    TooManyConnections,
    #[error("the request body is larger than {max} bytes")]
    PayloadTooLarge { max: usize },
    #[error("the request did not arrive in time")]
    RequestTimeout,
    #[error("{0}")]
    InvalidReason(&'static str),
    #[error("you are banned from this room")]
    Banned,
    #[error("you are muted in this room: you may read, not post")]
    Muted,
    #[error("that person is not a member of this room")]
    MemberNotFound,
    #[error("that person has no live ban in this room")]
    BanNotFound,
    #[error("that person has no live mute in this room")]
    MuteNotFound,
    #[error("you can't do that to yourself")]
    CannotModerateSelf,
    #[error("{0}")]
    CannotModerateUser(&'static str),
    // Replies, threads, reactions, pins (issue #10).
    #[error("{0}")]
    InvalidEmoji(&'static str),
    #[error("a message may have at most {max} different reactions")]
    TooManyReactions { max: usize },
    #[error("a room may have at most {max} pinned messages")]
    TooManyPins { max: usize },
    #[error("{0}")]
    ThreadOrder(&'static str),
    /// Search (issue #11): a query the language can't read.
    #[error("{0}")]
    InvalidQuery(String),
    // Files (#12).
    #[error("the file is larger than {max} bytes")]
    FileTooLarge { max: u64 },
    #[error("your uploads would exceed your quota of {max} bytes")]
    QuotaExceeded { max: u64 },
    #[error("files of this type ({0}) may not be uploaded")]
    FileTypeNotAllowed(String),
    #[error("no such file")]
    FileNotFound,
    #[error("{0}")]
    InvalidAttachments(&'static str),
    #[error("the requested range is not satisfiable")]
    RangeNotSatisfiable,
    // Calls (#13).
    #[error("this call is full ({max} people)")]
    CallFull { max: usize },
    #[error("{0}")]
    NotInCall(&'static str),
    #[error("you joined this call on another tab or device")]
    CallMoved,
    #[error("the store is unavailable; try again")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// The stable, snake_case code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidJson(_) => "invalid_json",
            Error::InvalidFrame(_) => "invalid_frame",
            Error::UnknownType(_) => "unknown_type",
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidQuery(_) => "invalid_query",
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::RoomNotFound => "room_not_found",
            Error::MessageNotFound => "message_not_found",
            Error::BodyEmpty => "body_empty",
            Error::BodyTooLong { .. } => "body_too_long",
            Error::InvalidClientId(_) => "invalid_client_id",
            Error::RateLimited | Error::RateLimitedBecause(_) => "rate_limited",
            Error::InvalidUsername(_) => "invalid_username",
            Error::WeakPassword { .. } => "weak_password",
            Error::PasswordRefused(_) => "weak_password",
            Error::InvalidBody(_) => "invalid_body",
            Error::CrossOrigin(_) => "cross_origin",
            Error::UsernameTaken => "username_taken",
            Error::InvalidCredentials => "invalid_credentials",
            Error::InvalidRoomName(_) => "invalid_room_name",
            Error::RoomNameTaken => "room_name_taken",
            Error::GuestsDisabled => "guests_disabled",
            Error::NotFound => "not_found",
            Error::UserNotFound => "user_not_found",
            Error::InviteNotFound => "invite_not_found",
            Error::InviteExpired => "invite_expired",
            Error::InvalidRole(_) => "invalid_role",
            Error::TooManyMembers { .. } => "too_many_members",
            Error::InvalidPassword => "invalid_password",
            Error::NotAGuest => "not_a_guest",
            Error::InvalidProfile(_) => "invalid_profile",
            Error::SessionNotFound => "session_not_found",
            Error::TooManySubscriptions { .. } => "too_many_subscriptions",
            Error::TooManyRooms { .. } => "too_many_rooms",
            Error::TooManyConnections => "too_many_connections",
            Error::BotNotFound => "bot_not_found",
            Error::WebhookNotFound => "webhook_not_found",
            Error::TooManyBots { .. } => "too_many_bots",
            Error::TooManyWebhooks { .. } => "too_many_webhooks",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::RequestTimeout => "request_timeout",
            Error::InvalidReason(_) => "invalid_reason",
            Error::Banned => "banned",
            Error::Muted => "muted",
            Error::MemberNotFound => "member_not_found",
            Error::BanNotFound => "ban_not_found",
            Error::MuteNotFound => "mute_not_found",
            Error::CannotModerateSelf => "cannot_moderate_self",
            Error::CannotModerateUser(_) => "cannot_moderate_user",
            Error::InvalidEmoji(_) => "invalid_emoji",
            Error::TooManyReactions { .. } => "too_many_reactions",
            Error::TooManyPins { .. } => "too_many_pins",
            Error::ThreadOrder(_) => "thread_order",
            Error::FileTooLarge { .. } => "file_too_large",
            Error::QuotaExceeded { .. } => "quota_exceeded",
            Error::FileTypeNotAllowed(_) => "file_type_not_allowed",
            Error::FileNotFound => "file_not_found",
            Error::InvalidAttachments(_) => "invalid_attachments",
            Error::RangeNotSatisfiable => "range_not_satisfiable",
            Error::CallFull { .. } => "call_full",
            Error::NotInCall(_) => "not_in_call",
            Error::CallMoved => "call_moved",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidJson(_)
            | Error::InvalidFrame(_)
            | Error::UnknownType(_)
            | Error::InvalidRequest(_)
            | Error::BodyEmpty
            | Error::BodyTooLong { .. }
            | Error::InvalidClientId(_)
            | Error::InvalidUsername(_)
            | Error::WeakPassword { .. }
            | Error::PasswordRefused(_)
            | Error::InvalidBody(_)
            | Error::InvalidRoomName(_)
            | Error::InvalidRole(_)
            | Error::TooManyMembers { .. }
            | Error::TooManySubscriptions { .. }
            | Error::InvalidProfile(_)
            | Error::CannotModerateSelf
            | Error::InvalidEmoji(_)
            | Error::ThreadOrder(_)
            | Error::InvalidReason(_)
            | Error::InvalidQuery(_)
            | Error::InvalidAttachments(_) => StatusCode::BAD_REQUEST,
            Error::Unauthenticated | Error::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_)
            | Error::GuestsDisabled
            | Error::CrossOrigin(_)
            | Error::Banned
            | Error::Muted
            | Error::CannotModerateUser(_)
            | Error::InvalidPassword => StatusCode::FORBIDDEN,
            Error::RoomNotFound
            | Error::MessageNotFound
            | Error::NotFound
            | Error::BotNotFound
            | Error::WebhookNotFound
            | Error::UserNotFound
            | Error::InviteNotFound
            | Error::MemberNotFound
            | Error::BanNotFound
            | Error::MuteNotFound
            | Error::SessionNotFound
            | Error::FileNotFound => StatusCode::NOT_FOUND,
            Error::InviteExpired => StatusCode::GONE,
            Error::UsernameTaken
            | Error::RoomNameTaken
            | Error::NotAGuest
            | Error::TooManyReactions { .. }
            | Error::TooManyPins { .. }
            | Error::CallFull { .. }
            | Error::NotInCall(_)
            | Error::CallMoved => StatusCode::CONFLICT,
            Error::RateLimited | Error::RateLimitedBecause(_) | Error::TooManyConnections => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Error::TooManyRooms { .. }
            | Error::TooManyBots { .. }
            | Error::TooManyWebhooks { .. } => StatusCode::FORBIDDEN,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::FileTooLarge { .. } | Error::QuotaExceeded { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Error::FileTypeNotAllowed(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The text shown to the client; internal causes stay in the log.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    /// Log server-side failures with their cause chain; client mistakes are not worth a warning.
    pub fn log_if_internal(&self) {
        match self {
            Error::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            // Its cause chain on one line: an outage or an overload is not a bug, and a
            // backtrace for each (with RUST_BACKTRACE set) costs the node milliseconds apiece
            // just when it has none to spare.
            Error::Unavailable(cause) => {
                tracing::warn!(error = %format_args!("{cause:#}"), "store unavailable")
            }
            _ => {}
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.public_message(),
            },
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Self {
        Error::Internal(err)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log_if_internal();
        (self.status(), Json(self.body())).into_response()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
