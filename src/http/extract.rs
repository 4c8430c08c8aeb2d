//! Extractors that answer bad input in Palaver's error format instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A JSON body: a JSON object, sent with `Content-Type: application/json` (which also keeps
/// plain HTML forms, the CSRF vector, from reaching state-changing endpoints). Every body of the
/// API is an object; an array is refused even where serde would read a struct from its fields in
/// order (`[null, null]` as a room change: the schema-driven fuzz found it accepted).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(Error::InvalidRequest(
                "send a JSON body with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|err| {
            if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge {
                    max: super::BODY_LIMIT,
                }
            } else {
                Error::InvalidRequest(err.body_text())
            }
        })?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                    Err(err) => Error::InvalidJson(err.to_string()),
                    Ok(_) => Error::InvalidRequest("the body must be a JSON object".into()),
                },
            );
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonSyntaxError(err)) => Err(Error::InvalidJson(err.body_text())),
            Err(err) => Err(Error::InvalidRequest(err.body_text())),
        }
    }
}

/// `application/json`, or a `+json` type (as axum's `Json` takes), any parameters.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|subtype| subtype == "json" || subtype.ends_with("+json"))
}

/// Query parameters.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(err @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(Error::InvalidRequest(err.body_text()))
            }
            Err(err) => Err(Error::InvalidRequest(err.body_text())),
        }
    }
}
