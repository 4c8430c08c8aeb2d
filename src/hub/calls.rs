//! Calls (#13): who is in each room's call, and the relay of WebRTC signalling among them.
//!
//! Call membership is ephemeral, like presence: a participant is one socket connection, held in
//! memory by the node that holds the socket. A user has at most one place per room's call: a
//! second socket of theirs that joins takes the place over, and the first is told with a
//! `call_moved` error frame. In a cluster, a [`ClusterPresence`] (the Redis bus) carries joins,
//! leaves and each node's participants in its heartbeat, so a dead node's participants leave
//! with it; every node announces the union to its own subscribers of the room.
//!
//! Every announcement is made under this module's lock, so the `call.state` frames one socket
//! gets are in the order the states were; a state equal to the last one announced is not sent
//! again (a remote change that changes nothing cluster-wide, a heartbeat).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::ordering::Rooms;
use super::outbound::{Connection, Outbound};
use crate::bus::Presence as ClusterPresence;
use crate::error::{Error, Result};
use crate::protocol::{Ref, ServerFrame, User};

/// Most people in one call: a full mesh of peer connections gets too heavy past it.
pub const MAX_CALL_PARTICIPANTS: usize = 6;

/// This node's participant of a room's call.
struct Participant {
    user: User,
    conn: Arc<Connection>,
}

#[derive(Default)]
struct Table {
    /// Room → user id → their participating socket here.
    local: HashMap<Arc<str>, HashMap<String, Participant>>,
    /// Room → the participants last announced to this node's subscribers of it.
    announced: HashMap<Arc<str>, Vec<User>>,
}

/// This node's calls, and its window onto the other nodes'.
pub(super) struct Calls {
    rooms: Arc<Rooms>,
    cluster: OnceLock<Arc<dyn ClusterPresence>>,
    table: Mutex<Table>,
}

impl Calls {
    pub(super) fn new(rooms: Arc<Rooms>) -> Self {
        Calls {
            rooms,
            cluster: OnceLock::new(),
            table: Mutex::new(Table::default()),
        }
    }

    pub(super) fn attach(&self, cluster: Arc<dyn ClusterPresence>) {
        let _ = self.cluster.set(cluster);
    }

    /// The connection joins the room's call (it must be subscribed to the room); answered with
    /// a `call.state` carrying `reference`, which the room's other subscribers get without it.
    pub(super) fn join(
        &self,
        room_id: &Arc<str>,
        conn: &Arc<Connection>,
        reference: Option<Ref>,
    ) -> Result<()> {
        let subscribed = self
            .rooms
            .lock()
            .get(room_id)
            .is_some_and(|e| e.room.is_subscribed(conn.id));
        if !subscribed {
            return Err(Error::InvalidRequest(
                "subscribe to the room before joining its call".into(),
            ));
        }
        let mut table = self.table.lock().unwrap();
        let participants = self.participants_in(&table, room_id);
        let here = table
            .local
            .get(room_id)
            .and_then(|p| p.get(&conn.user.id))
            .map(|p| p.conn.clone());
        match here {
            // Already in it from this socket: nothing changes.
            Some(old) if old.id == conn.id => {}
            // In it from another socket here: the place moves to this one.
            Some(old) => {
                told_moved(&old);
                self.place(&mut table, room_id, conn);
            }
            None => {
                let listed = participants.iter().any(|u| u.id == conn.user.id);
                if !listed && participants.len() >= MAX_CALL_PARTICIPANTS {
                    return Err(Error::CallFull {
                        max: MAX_CALL_PARTICIPANTS,
                    });
                }
                self.place(&mut table, room_id, conn);
                if let Some(cluster) = self.cluster.get() {
                    cluster.call_changed(room_id, &conn.user, true);
                }
            }
        }
        self.announce(&mut table, room_id, Some((conn, reference)));
        Ok(())
    }

    fn place(&self, table: &mut Table, room_id: &Arc<str>, conn: &Arc<Connection>) {
        table.local.entry(room_id.clone()).or_default().insert(
            conn.user.id.clone(),
            Participant {
                user: conn.user.clone(),
                conn: conn.clone(),
            },
        );
    }

    /// The connection leaves the room's call, if it is in it (an explicit `call.leave`); it is
    /// told the state with the request's `ref` either way.
    pub(super) fn leave(&self, room_id: &Arc<str>, conn: &Arc<Connection>, reference: Option<Ref>) {
        let mut table = self.table.lock().unwrap();
        self.take_out(&mut table, room_id, |p| p.conn.id == conn.id);
        self.announce(&mut table, room_id, Some((conn, reference)));
    }

    /// The connection's place in the room's call ends (it unsubscribed).
    pub(super) fn drop_from(&self, room_id: &Arc<str>, conn_id: u64) {
        let mut table = self.table.lock().unwrap();
        if self.take_out(&mut table, room_id, |p| p.conn.id == conn_id) {
            self.announce(&mut table, room_id, None);
        }
    }

    /// The connection closed: its places in every call end.
    pub(super) fn drop_connection(&self, conn_id: u64) {
        let mut table = self.table.lock().unwrap();
        let rooms: Vec<Arc<str>> = table
            .local
            .iter()
            .filter(|(_, p)| p.values().any(|p| p.conn.id == conn_id))
            .map(|(room, _)| room.clone())
            .collect();
        for room_id in rooms {
            self.take_out(&mut table, &room_id, |p| p.conn.id == conn_id);
            self.announce(&mut table, &room_id, None);
        }
    }

    /// The user's place here in the room's call ends (they were removed from the room).
    pub(super) fn remove_user(&self, room_id: &Arc<str>, user_id: &str) {
        let mut table = self.table.lock().unwrap();
        if self.take_out(&mut table, room_id, |p| p.user.id == user_id) {
            self.announce(&mut table, room_id, None);
        }
    }

    /// The user joined the room's call on another node: their socket here lets go, told with
    /// `call_moved`.
    pub(super) fn joined_elsewhere(&self, room_id: &str, user_id: &str) {
        let room_id: Arc<str> = Arc::from(room_id);
        let mut table = self.table.lock().unwrap();
        let moved = table
            .local
            .get(&room_id)
            .and_then(|p| p.get(user_id))
            .map(|p| p.conn.clone());
        if let Some(old) = moved {
            self.take_out(&mut table, &room_id, |p| p.user.id == user_id);
            told_moved(&old);
            self.announce(&mut table, &room_id, None);
        }
    }

    /// Removes this node's participant of the room that `which` picks, telling the cluster;
    /// answers whether there was one.
    fn take_out(
        &self,
        table: &mut Table,
        room_id: &Arc<str>,
        which: impl Fn(&Participant) -> bool,
    ) -> bool {
        let Some(participants) = table.local.get_mut(room_id) else {
            return false;
        };
        let Some(user_id) = participants
            .iter()
            .find(|(_, p)| which(p))
            .map(|(id, _)| id.clone())
        else {
            return false;
        };
        let gone = participants.remove(&user_id).expect("just found");
        if participants.is_empty() {
            table.local.remove(room_id);
        }
        if let Some(cluster) = self.cluster.get() {
            cluster.call_changed(room_id, &gone.user, false);
        }
        true
    }

    /// The participants of the room's call on other nodes changed: announce the new state.
    pub(super) fn remote_changed(&self, room_id: &str) {
        let mut table = self.table.lock().unwrap();
        self.announce(&mut table, &Arc::from(room_id), None);
    }

    /// Sends the room's subscribers here its call's state if it changed since the last
    /// announcement; `answer` (the socket whose request changed it) always gets it, with the
    /// request's `ref`.
    fn announce(
        &self,
        table: &mut Table,
        room_id: &Arc<str>,
        answer: Option<(&Arc<Connection>, Option<Ref>)>,
    ) {
        let participants = self.participants_in(table, room_id);
        let changed = table
            .announced
            .get(room_id)
            .map_or(!participants.is_empty(), |last| *last != participants);
        let answered = answer.as_ref().map(|(conn, _)| conn.id);
        if changed {
            let frame = Utf8Bytes::from(state_frame(room_id, &participants, None).encode());
            if let Some(entry) = self.rooms.lock().get(room_id) {
                for sub in &entry.room.subscribers {
                    if Some(sub.conn.id) != answered {
                        sub.conn.push(Outbound::Frame(frame.clone()));
                    }
                }
            }
            if participants.is_empty() {
                table.announced.remove(room_id);
            } else {
                table
                    .announced
                    .insert(room_id.clone(), participants.clone());
            }
        }
        if let Some((conn, reference)) = answer {
            let frame = state_frame(room_id, &participants, reference).encode();
            conn.push(Outbound::Frame(Utf8Bytes::from(frame)));
        }
    }

    /// Tells a new subscriber of the room who is in its call, if one runs.
    pub(super) fn tell_subscriber(&self, room_id: &Arc<str>, conn: &Arc<Connection>) {
        let table = self.table.lock().unwrap();
        let participants = self.participants_in(&table, room_id);
        if !participants.is_empty() {
            let frame = state_frame(room_id, &participants, None).encode();
            conn.push(Outbound::Frame(Utf8Bytes::from(frame)));
        }
    }

    /// Who is in the room's call, cluster-wide, each once, sorted by user id.
    pub(super) fn participants(&self, room_id: &str) -> Vec<User> {
        let table = self.table.lock().unwrap();
        self.participants_in(&table, room_id)
    }

    fn participants_in(&self, table: &Table, room_id: &str) -> Vec<User> {
        let mut users: Vec<User> = table
            .local
            .get(room_id)
            .map(|p| p.values().map(|p| p.user.clone()).collect())
            .unwrap_or_default();
        if let Some(cluster) = self.cluster.get() {
            for user in cluster.remote_call(room_id) {
                if !users.iter().any(|u| u.id == user.id) {
                    users.push(user);
                }
            }
        }
        users.sort_by(|a, b| a.id.cmp(&b.id));
        users
    }

    /// Relays a participant's signalling to another participant of the room's call, on any
    /// node. The sender must be in the call from this socket, and `to` in the call.
    pub(super) fn signal(
        &self,
        room_id: &str,
        from: &Arc<Connection>,
        to: &str,
        data: serde_json::Value,
    ) -> Result<()> {
        let table = self.table.lock().unwrap();
        let sender_in = table
            .local
            .get(room_id)
            .and_then(|p| p.get(&from.user.id))
            .is_some_and(|p| p.conn.id == from.id);
        if !sender_in {
            return Err(Error::NotInCall("join the call before signalling in it"));
        }
        if to == from.user.id {
            return Err(Error::NotInCall("signal another participant, not yourself"));
        }
        if !self
            .participants_in(&table, room_id)
            .iter()
            .any(|u| u.id == to)
        {
            return Err(Error::NotInCall("that person is not in this call"));
        }
        let frame = ServerFrame::CallSignal {
            room_id: room_id.to_string(),
            from: from.user.id.clone(),
            data,
        }
        .encode();
        match table.local.get(room_id).and_then(|p| p.get(to)) {
            Some(target) => {
                target.conn.push(Outbound::Frame(Utf8Bytes::from(frame)));
            }
            None => {
                if let Some(cluster) = self.cluster.get() {
                    cluster.call_signal(room_id, to, &frame);
                }
            }
        }
        Ok(())
    }

    /// A signal from another node for a participant: pushed to their call socket if it is here.
    pub(super) fn relay_signal(&self, room_id: &str, to: &str, frame: Utf8Bytes) {
        let table = self.table.lock().unwrap();
        if let Some(target) = table.local.get(room_id).and_then(|p| p.get(to)) {
            target.conn.push(Outbound::Frame(frame));
        }
    }

    /// This node's participants per room: the cluster heartbeat.
    pub(super) fn local(&self) -> HashMap<String, Vec<User>> {
        self.table
            .lock()
            .unwrap()
            .local
            .iter()
            .map(|(room, p)| {
                (
                    room.to_string(),
                    p.values().map(|p| p.user.clone()).collect(),
                )
            })
            .collect()
    }
}

fn state_frame(room_id: &str, participants: &[User], reference: Option<Ref>) -> ServerFrame {
    ServerFrame::CallState {
        room_id: room_id.to_string(),
        participants: participants.to_vec(),
        reference,
    }
}

/// Tells a socket its place in a call moved to another socket of the same person.
fn told_moved(conn: &Connection) {
    let frame = ServerFrame::Error {
        code: Error::CallMoved.code().to_string(),
        message: Error::CallMoved.public_message(),
        reference: None,
        client_id: None,
    };
    conn.push(Outbound::Frame(Utf8Bytes::from(frame.encode())));
}
