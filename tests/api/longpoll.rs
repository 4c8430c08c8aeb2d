//! Long-polls leave nothing behind (issue 23 item 10): a long-poll whose client goes away
//! mid-wait ends its watch of the room, so the hub forgets the room again.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::{spawn_app, WAIT};

/// Waits (bounded by [`WAIT`]) until the hub holds the room or not, as `held` says.
async fn until_held(app: &crate::helpers::TestApp, room_id: &str, held: bool) {
    let deadline = Instant::now() + WAIT;
    while app.state.hub.has_room(room_id) != held {
        assert!(
            Instant::now() < deadline,
            "the hub {} the room",
            if held { "never held" } else { "still holds" }
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_long_poll_whose_client_goes_away_ends_its_watch() {
    let app = spawn_app().await;
    let (_, token) = app.guest("poller").await;
    let room = app.create_room(&token, "Polled").await;
    assert!(!app.state.hub.has_room(&room.id), "nobody watches it yet");
    let mut stream = TcpStream::connect(&app.addr).await.unwrap();
    let request = format!(
        "GET /api/rooms/{}/events?after={}&wait=30 HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {token}\r\n\r\n",
        room.id, room.last_seq, app.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    until_held(&app, &room.id, true).await;
    // The client gives up long before the 30 s wait is over.
    drop(stream);
    until_held(&app, &room.id, false).await;
    // A long-poll that ends by its own timeout lets go too.
    let (status, _) = app
        .get(
            &format!(
                "/api/rooms/{}/events?after={}&wait=1",
                room.id, room.last_seq
            ),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200);
    until_held(&app, &room.id, false).await;
}
