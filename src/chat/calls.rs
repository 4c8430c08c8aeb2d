//! Calls (#13): audio, video and screen share among the people of a room, over WebRTC.
//!
//! The server never touches media: browsers connect to each other (a full mesh, at most
//! [`crate::hub::MAX_CALL_PARTICIPANTS`] people), and the server relays their signalling
//! (offers, answers, ICE candidates) among the call's participants over the socket. Who is in which call lives in the
//! hub (ephemeral, per socket, cluster-wide); the rules here are who may join — whoever may post
//! in the room, asked of the one gate, so a person who may not read it gets `room_not_found` —
//! and the ICE servers a browser is given, with short-lived TURN credentials in coturn's REST API
//! scheme.

use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::error::Result;
use crate::hub::Connection;
use crate::protocol::{IceServer, Ref};

use super::access::Need;
use super::Chat;

impl Chat {
    /// The connection joins the room's call (see [`crate::hub::Hub::join_call`]): only someone
    /// who may post in the room (a banned person gets `banned`, or `room_not_found` where the
    /// room is not public; a muted one `muted`).
    pub async fn join_call(
        &self,
        conn: &Arc<Connection>,
        room_id: &str,
        reference: Option<Ref>,
    ) -> Result<()> {
        self.gate
            .require(
                &conn.user,
                room_id,
                Need::Post,
                "you can't take part in this room's calls",
            )
            .await?;
        self.hub.join_call(&Arc::from(room_id), conn, reference)
    }

    /// The connection leaves the room's call (see [`crate::hub::Hub::leave_call`]). The answer
    /// lists who is in the call, so it asks the gate too: to someone who may not read the room
    /// it does not exist.
    pub async fn leave_call(
        &self,
        conn: &Arc<Connection>,
        room_id: &str,
        reference: Option<Ref>,
    ) -> Result<()> {
        self.gate.read(&conn.user, room_id).await?;
        self.hub.leave_call(&Arc::from(room_id), conn, reference);
        Ok(())
    }
}

/// The ICE servers for a browser of `user_id`, from the configured URLs: STUN URLs as they are;
/// TURN URLs (`turn:`, `turns:`), when a shared secret is set, with a username
/// `"{expiry}:{user_id}"` (expiry: `now_unix + ttl_secs`) and its credential
/// base64(HMAC-SHA1(secret, username)), which a TURN server with the same secret
/// (coturn's `use-auth-secret`) checks without asking Palaver. TURN URLs without a secret are
/// left out: they could not be used.
pub fn ice_servers(
    urls: &[String],
    turn_secret: Option<&str>,
    ttl_secs: u64,
    user_id: &str,
    now_unix: u64,
) -> Vec<IceServer> {
    let urls: Vec<&str> = urls
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    let is_turn = |u: &&str| u.starts_with("turn:") || u.starts_with("turns:");
    let stun: Vec<String> = urls
        .iter()
        .filter(|u| !is_turn(u))
        .map(|u| u.to_string())
        .collect();
    let turn: Vec<String> = urls
        .iter()
        .filter(|u| is_turn(u))
        .map(|u| u.to_string())
        .collect();
    let mut servers = Vec::new();
    if !stun.is_empty() {
        servers.push(IceServer {
            urls: stun,
            username: None,
            credential: None,
        });
    }
    if let (false, Some(secret)) = (turn.is_empty(), turn_secret) {
        let username = format!("{}:{user_id}", now_unix.saturating_add(ttl_secs));
        servers.push(IceServer {
            urls: turn,
            credential: Some(turn_credential(secret, &username)),
            username: Some(username),
        });
    }
    servers
}

/// coturn's REST API credential of a username: base64(HMAC-SHA1(secret, username)).
pub fn turn_credential(secret: &str, username: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2202's first HMAC-SHA1 test case, base64-encoded: the credential is the standard
    /// construction, so coturn computes the same.
    #[test]
    fn the_credential_is_hmac_sha1_in_base64() {
        let key = String::from_utf8(vec![0x0b; 20]).unwrap();
        // b617318655057264e28bc0b6fb378c8ef146be00
        assert_eq!(
            turn_credential(&key, "Hi There"),
            "thcxhlUFcmTii8C2+zeMjvFGvgA="
        );
    }

    #[test]
    fn stun_goes_as_is_and_turn_gets_a_credential_only_with_a_secret() {
        let urls = vec![
            "stun:stun.example.org:3478".to_string(),
            " turn:turn.example.org:3478?transport=udp".to_string(),
            "turns:turn.example.org:5349".to_string(),
        ];
        let servers = ice_servers(&urls, Some("s3cret"), 60, "u1", 1000);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].urls, ["stun:stun.example.org:3478"]);
        assert_eq!(servers[0].username, None);
        assert_eq!(
            servers[1].urls,
            [
                "turn:turn.example.org:3478?transport=udp",
                "turns:turn.example.org:5349"
            ]
        );
        assert_eq!(servers[1].username.as_deref(), Some("1060:u1"));
        assert_eq!(
            servers[1].credential.as_deref(),
            Some(turn_credential("s3cret", "1060:u1").as_str())
        );
        let without = ice_servers(&urls, None, 60, "u1", 1000);
        assert_eq!(without.len(), 1, "TURN without a secret is left out");
        assert!(ice_servers(&[], Some("s"), 60, "u1", 1000).is_empty());
    }
}
