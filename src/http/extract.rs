//! Extractors that answer bad input in Palaver's error format instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A JSON body. Requires `Content-Type: application/json`, which also keeps plain HTML forms
/// (the CSRF vector) from reaching state-changing endpoints.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonSyntaxError(err)) => Err(Error::InvalidJson(err.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::InvalidRequest(
                "send a JSON body with Content-Type: application/json".into(),
            )),
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::PayloadTooLarge {
                    max: super::BODY_LIMIT,
                })
            }
            Err(err) => Err(Error::InvalidRequest(err.body_text())),
        }
    }
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
