//! Cross-site request forgery: a state-changing request (POST, PUT, PATCH, DELETE) that is signed
//! in by the session cookie must prove it comes from a page of this origin. Bearer tokens are
//! exempt: a browser never attaches them on its own.
//!
//! The proof is what browsers send with every such request, and a page can't forge:
//! - `Origin`: the server's own origin (scheme and the `Host` the request was sent to) or one of
//!   `PALAVER_ALLOWED_ORIGINS`; any other origin (`null` included) is refused;
//! - else `Sec-Fetch-Site: same-origin`.
//!
//! A cookie request with neither header carries no proof and is refused too: every browser that
//! runs the web UI sends `Origin` on these methods, and programs sign in with a bearer token.
//! `SameSite=Lax` alone is not enough: a page on a sibling subdomain is "same site".

use axum::http::{header, HeaderMap, HeaderName, Method};

use super::Credential;
use crate::error::{Error, Result};

/// Whether the method changes state (everything but GET, HEAD, OPTIONS, TRACE).
pub fn changes_state(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether `origin` (an `Origin` header's value) is this server's or a configured one.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    matches!(host, Some(host) if !host.is_empty() && origin_host.eq_ignore_ascii_case(host))
}

/// `cross_origin` (403) unless a cookie-authenticated state change proves its origin; any other
/// request passes.
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    credential: Credential,
    allowed: &[String],
) -> Result<()> {
    if credential != Credential::Cookie || !changes_state(method) {
        return Ok(());
    }
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        return if origin_allowed(origin, text(header::HOST), allowed) {
            Ok(())
        } else {
            Err(Error::CrossOrigin(
                "this request comes from another site's page",
            ))
        };
    }
    match text(HeaderName::from_static("sec-fetch-site")) {
        Some(site) if site.eq_ignore_ascii_case("same-origin") => Ok(()),
        Some(_) => Err(Error::CrossOrigin(
            "this request comes from another site's page",
        )),
        None => Err(Error::CrossOrigin(
            "a request signed in by cookie must carry its Origin; programs use a bearer token",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::HOST, "chat.example:8080".parse().unwrap());
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn verdict(method: Method, pairs: &[(&'static str, &str)], credential: Credential) -> bool {
        let allowed = vec!["https://app.example".to_string()];
        check(&method, &headers(pairs), credential, &allowed).is_ok()
    }

    #[test]
    fn cookie_state_changes_need_a_same_origin_proof() {
        use Credential::*;
        let post = || Method::POST;
        assert!(verdict(
            post(),
            &[("origin", "http://chat.example:8080")],
            Cookie
        ));
        assert!(verdict(
            post(),
            &[("origin", "https://app.example/")],
            Cookie
        ));
        assert!(verdict(
            post(),
            &[("sec-fetch-site", "same-origin")],
            Cookie
        ));
        assert!(!verdict(
            post(),
            &[("origin", "http://evil.example")],
            Cookie
        ));
        assert!(!verdict(post(), &[("origin", "null")], Cookie));
        assert!(!verdict(
            post(),
            &[("origin", "http://chat.example:8080.evil")],
            Cookie
        ));
        assert!(!verdict(post(), &[("sec-fetch-site", "same-site")], Cookie));
        assert!(!verdict(post(), &[], Cookie), "no proof at all");
        // An allowed Origin wins over a same-site fetch metadata header, a foreign one loses.
        assert!(!verdict(
            Method::DELETE,
            &[
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "same-origin")
            ],
            Cookie
        ));
        // Reads, and bearer tokens, need no proof.
        assert!(verdict(
            Method::GET,
            &[("origin", "http://evil.example")],
            Cookie
        ));
        assert!(verdict(
            Method::PATCH,
            &[("origin", "http://evil.example")],
            Bearer
        ));
        assert!(verdict(Method::PUT, &[], Bearer));
    }
}
