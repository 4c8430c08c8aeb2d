//! The one gate: who may read, post in, join, moderate and own a room.
//!
//! Every path that reads or changes a room asks [`Gate`] first: REST history, events, members
//! and long-poll; the socket's subscribe and replay; room lists and room-list frames; invites;
//! every write. The gate fetches the facts a decision needs (the room's kind, the room, the
//! caller's role), asks the [`Policy`], and answers in one way for everyone:
//! - a caller who may not **read** a room gets `room_not_found`, whatever they asked: to them the
//!   room does not exist, so its existence doesn't leak;
//! - a caller who may read but not do the rest gets `forbidden`, with a message saying who may.
//!
//! Before the policy, the gate checks the caller's room scope ([`super::scope`]): a bot whose
//! token is limited to chosen rooms (or a webhook's poster) gets `room_not_found` for every
//! other room, on every path, whatever the policy says. It is a separate check, so any policy
//! composes with it; people have no scope and it costs them nothing.
//!
//! The policy says up front which facts it needs ([`Policy::lookup`]). Palaver's,
//! [`RoomKinds`], needs only the room's kind to let anyone read, post in and join a public
//! room; a room's kind never changes after it is made, so the gate keeps a per-node cache of
//! id → kind and a send to a public room costs no store round trip once the kind is known. A
//! private room or DM costs one indexed read of the caller's membership.
//!
//! The facts are a struct a policy reads what it needs from: a further fact (a ban, a mute) is a
//! new field fetched when the policy asks for it, and the paths that ask the gate don't change.

//! On top of the policy, the gate checks the caller's standing in the room (bans and mutes, see
//! `Gate::standing`): one indexed read of `sanctions`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::protocol::{Role, Room, RoomKind, User};
use crate::store::moderation::Standing;
use crate::store::Store;

use super::gather::{answer_each, distinct, failed, Batch, Gathered};
use super::scope::Scopes;

/// What a caller wants to do in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// See the room at all: its history, events, members, presence, typing, its room-list entry.
    Read,
    /// Change its messages: send, edit, delete one's own, move, type.
    Post,
    /// Become a member (join, or subscribe, which joins).
    Join,
    /// Act on others' messages and the room's settings: clear, update, rearrange when limited,
    /// add members, make invites of a private room.
    Moderate,
    /// Delete the room; change its members' roles.
    Own,
}

/// The facts a policy decision needs fetched first, from the cheapest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lookup {
    /// Nothing: the decision depends on the user alone.
    Nothing,
    /// The room's kind (from the gate's per-node cache); and, for a room that is not public,
    /// the room and the caller's role too.
    Kind,
    /// The room and the caller's role in it (owner, admin, moderator, member, or none).
    RoomAndRole,
}

/// What the gate knows when it asks the policy.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub user: &'a User,
    pub room_id: &'a str,
    /// Known when the policy asked for [`Lookup::Kind`] or more.
    pub kind: Option<RoomKind>,
    /// Fetched when the policy asked for [`Lookup::RoomAndRole`] (or the kind is not public).
    pub room: Option<&'a Room>,
    /// The caller's role; `Owner` for the room's owner. `None`: not a member (or not fetched).
    pub role: Option<Role>,
}

/// The rules of access. [`RoomKinds`] is Palaver's; tests install others to prove the gate is
/// asked on every path.
pub trait Policy: Send + Sync + 'static {
    /// Which facts [`Policy::allows`] needs for this kind of request.
    fn lookup(&self, need: Need) -> Lookup;
    /// Whether the request is allowed, given the facts [`Policy::lookup`] asked for.
    fn allows(&self, need: Need, facts: &Facts<'_>) -> bool;
}

/// Every room is public: anyone signed in may read, post and join; the owner, room admins,
/// moderators and site admins moderate; only the owner deletes. (Palaver's policy before room
/// kinds; the gate tests build on it.)
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenRooms;

impl Policy for OpenRooms {
    fn lookup(&self, need: Need) -> Lookup {
        match need {
            Need::Read | Need::Post | Need::Join => Lookup::Nothing,
            Need::Moderate | Need::Own => Lookup::RoomAndRole,
        }
    }

    fn allows(&self, need: Need, facts: &Facts<'_>) -> bool {
        match need {
            Need::Read | Need::Post | Need::Join => true,
            Need::Moderate => facts.user.admin || facts.role.is_some_and(Role::moderates),
            Need::Own => facts.role == Some(Role::Owner),
        }
    }
}

/// Palaver's policy:
/// - a **public** room: anyone signed in reads, posts and joins;
/// - a **private** room or a **DM**: only its members read and post; nobody joins it (people
///   come in through an invite or are added by a moderator, which don't ask for [`Need::Join`];
///   a member's join, as every socket resume's subscribe, is allowed and writes nothing);
/// - moderating: the owner, moderators and room admins (of old data), and site admins in any
///   room they may read;
/// - owning (deleting the room, changing roles): the owner only.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoomKinds;

impl Policy for RoomKinds {
    fn lookup(&self, need: Need) -> Lookup {
        match need {
            Need::Read | Need::Post | Need::Join => Lookup::Kind,
            Need::Moderate | Need::Own => Lookup::RoomAndRole,
        }
    }

    fn allows(&self, need: Need, facts: &Facts<'_>) -> bool {
        let kind = facts.kind.or(facts.room.map(|r| r.kind));
        let reads = match kind {
            Some(RoomKind::Public) => true,
            Some(RoomKind::Private | RoomKind::Direct) => facts.role.is_some(),
            // Unknown kind: the room does not exist (or was not looked up): refuse.
            None => false,
        };
        match need {
            Need::Read | Need::Post | Need::Join => reads,
            Need::Moderate => {
                reads && (facts.role.is_some_and(Role::moderates) || facts.user.admin)
            }
            Need::Own => facts.role == Some(Role::Owner),
        }
    }
}

/// Most room kinds the gate remembers before it starts over (a kind is one small read away).
const KIND_CACHE_MAX: usize = 100_000;

/// What the gate fetched on its way to a yes; empty when the policy needed nothing.
#[derive(Debug, Clone, Default)]
pub struct Admitted {
    pub kind: Option<RoomKind>,
    pub room: Option<Room>,
    pub role: Option<Role>,
    /// For a join ([`Need::Join`]): the caller's membership as the store has it (`None`: not a
    /// member; an owner who left is not one), read with their standing. `None` for other needs.
    pub member: Option<Role>,
}

/// The one place access is decided.
pub struct Gate {
    store: Arc<dyn Store>,
    policy: Arc<dyn Policy>,
    /// The rooms bots and webhook posters may reach at all.
    scopes: Arc<Scopes>,
    /// Room id → kind, as read from the store: a room's kind never changes.
    kinds: RwLock<HashMap<String, RoomKind>>,
    /// The standings of joins (subscribes), gathered: when a node dies, thousands of its
    /// clients subscribe here within seconds, in reads of many (see [`super::gather`]).
    joins: Arc<Gathered<JoinStandings>>,
}

/// Reads the standings, with the membership, of many (room, person) pairs at once.
pub struct JoinStandings(Arc<dyn Store>);

impl Batch for JoinStandings {
    /// `(room id, user id)`.
    type Item = (String, String);
    type Answer = Standing;

    async fn run(&self, pairs: Vec<(String, String)>) -> Vec<Result<Standing>> {
        let unique = distinct(&pairs);
        match self.0.standings(&unique).await {
            Ok(found) => answer_each(&pairs, &unique, &found),
            Err(err) => failed(&err, pairs.len(), "a standing read"),
        }
    }
}

/// Standing reads of joins running at once, and most pairs one takes.
const JOIN_READERS: usize = 2;
const JOIN_BATCH: usize = 256;

impl Gate {
    pub fn new(store: Arc<dyn Store>, policy: Arc<dyn Policy>) -> Self {
        Gate {
            scopes: Arc::new(Scopes::new(store.clone())),
            joins: Arc::new(Gathered::new(
                JoinStandings(store.clone()),
                JOIN_READERS,
                JOIN_BATCH,
            )),
            store,
            policy,
            kinds: RwLock::new(HashMap::new()),
        }
    }

    /// The callers' room scopes (a bot limited to chosen rooms).
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Allows the request or refuses it: `room_not_found` when the caller may not read the room
    /// (or it doesn't exist and the policy looked), `forbidden` with `what` otherwise.
    pub async fn require(
        &self,
        user: &User,
        room_id: &str,
        need: Need,
        what: &'static str,
    ) -> Result<Admitted> {
        if !self.scopes.allows(user, room_id).await? {
            return Err(Error::RoomNotFound);
        }
        // A refusal must know whether the caller may read, so fetch what reading needs too.
        let lookup = self.policy.lookup(need).max(self.policy.lookup(Need::Read));
        let admitted = match lookup {
            Lookup::Nothing => Admitted::default(),
            Lookup::Kind => match self.kind(room_id).await? {
                RoomKind::Public => Admitted {
                    kind: Some(RoomKind::Public),
                    ..Admitted::default()
                },
                _ => self.room_and_role(user, room_id).await?,
            },
            Lookup::RoomAndRole => self.room_and_role(user, room_id).await?,
        };
        let facts = Facts {
            user,
            room_id,
            kind: admitted.kind,
            room: admitted.room.as_ref(),
            role: admitted.role,
        };
        if !self.policy.allows(Need::Read, &facts) {
            return Err(Error::RoomNotFound);
        }
        let member = self.standing(user, room_id, need).await?;
        if need != Need::Read && !self.policy.allows(need, &facts) {
            return Err(Error::Forbidden(what));
        }
        Ok(Admitted { member, ..admitted })
    }

    /// [`Gate::require`] for reading.
    pub async fn read(&self, user: &User, room_id: &str) -> Result<Admitted> {
        self.require(user, room_id, Need::Read, "").await
    }

    /// Keeps the rooms the user may read, in order; each comes with the user's role in it as
    /// the store has it (`None`: not a member), which is what the policy is told (`Owner` for
    /// the room's owner). A bot limited to chosen rooms keeps only those.
    pub async fn readable(
        &self,
        user: &User,
        rooms: Vec<(Room, Option<Role>)>,
    ) -> Result<Vec<(Room, Option<Role>)>> {
        let mut kept = Vec::with_capacity(rooms.len());
        for (room, role) in rooms {
            if !self.scopes.allows(user, &room.id).await? {
                continue;
            }
            let facts = Facts {
                user,
                room_id: &room.id,
                kind: Some(room.kind),
                room: Some(&room),
                role: owner_or(user, &room, role),
            };
            if self.policy.allows(Need::Read, &facts) {
                kept.push((room, role));
            }
        }
        Ok(kept)
    }

    /// Keeps, in order, the entries of rooms the user is a member of (each with the room's kind
    /// and the user's role there) that they may read; a bot limited to chosen rooms keeps only
    /// those. For lists of the caller's own rooms (the unread counts), where the facts come
    /// with the list and nothing more is read.
    pub async fn readable_memberships<T>(
        &self,
        user: &User,
        entries: Vec<(T, RoomKind, Role)>,
    ) -> Result<Vec<T>>
    where
        T: AsRef<str>,
    {
        let mut kept = Vec::with_capacity(entries.len());
        for (entry, kind, role) in entries {
            let room_id = entry.as_ref();
            if !self.scopes.allows(user, room_id).await? {
                continue;
            }
            let facts = Facts {
                user,
                room_id,
                kind: Some(kind),
                room: None,
                role: Some(role),
            };
            if self.policy.allows(Need::Read, &facts) {
                kept.push(entry);
            }
        }
        Ok(kept)
    }

    /// Who may read `room`, as a test on each user, for frames that go to every connection (a
    /// room-list update). Fetches the room's members once when the policy needs roles (for a
    /// room that is not public).
    pub async fn audience(&self, room: &Room) -> Result<Audience> {
        let needs_roles = match self.policy.lookup(Need::Read) {
            Lookup::Nothing => false,
            Lookup::Kind => room.kind != RoomKind::Public,
            Lookup::RoomAndRole => true,
        };
        let roles = match needs_roles {
            false => None,
            true => Some(
                self.store
                    .members(&room.id)
                    .await?
                    .into_iter()
                    .map(|(user, role)| (user.id, role))
                    .collect(),
            ),
        };
        Ok(Audience {
            policy: self.policy.clone(),
            scopes: self.scopes.clone(),
            room: room.clone(),
            roles,
        })
    }

    /// Forgets a deleted room's kind.
    pub fn forget(&self, room_id: &str) {
        self.kinds.write().unwrap().remove(room_id);
    }

    /// Bans and mutes, on top of the policy: a banned caller is refused everything about the
    /// room (`banned`; where the room is not public, `room_not_found`: to them it does not
    /// exist), a muted one everything [`Need::Post`] covers (`muted`). One indexed read, which
    /// also answers the caller's stored membership.
    async fn standing(&self, user: &User, room_id: &str, need: Need) -> Result<Option<Role>> {
        // The membership only for a join (a subscribe), which would read it next; joins'
        // reads are gathered.
        let standing = match need {
            Need::Join => {
                let pair = (room_id.to_string(), user.id.clone());
                self.joins.ask(pair).await?
            }
            _ => self.store.standing(room_id, &user.id, false).await?,
        };
        if standing.banned {
            return Err(match standing.room_kind {
                Some(RoomKind::Public) | None => Error::Banned,
                Some(_) => Error::RoomNotFound,
            });
        }
        if standing.muted && need == Need::Post {
            return Err(Error::Muted);
        }
        Ok(standing.role)
    }

    /// The room's kind, from the per-node cache or the store (`room_not_found` for no such
    /// room): for the rules that differ by kind (notification defaults).
    pub async fn room_kind(&self, room_id: &str) -> Result<RoomKind> {
        self.kind(room_id).await
    }

    /// The room's kind, from the cache or the store (`room_not_found` for no such room).
    async fn kind(&self, room_id: &str) -> Result<RoomKind> {
        if let Some(kind) = self.kinds.read().unwrap().get(room_id) {
            return Ok(*kind);
        }
        let room = self.store.get_room(room_id).await?;
        self.remember(&room);
        Ok(room.kind)
    }

    fn remember(&self, room: &Room) {
        let mut kinds = self.kinds.write().unwrap();
        if kinds.len() >= KIND_CACHE_MAX {
            kinds.clear();
        }
        kinds.insert(room.id.clone(), room.kind);
    }

    async fn room_and_role(&self, user: &User, room_id: &str) -> Result<Admitted> {
        let room = self.store.get_room(room_id).await?;
        self.remember(&room);
        let role = self.store.role(&room.id, &user.id).await?;
        Ok(Admitted {
            kind: Some(room.kind),
            role: owner_or(user, &room, role),
            room: Some(room),
            member: None,
        })
    }
}

/// `Owner` for the room's owner, else the role the store has.
fn owner_or(user: &User, room: &Room, role: Option<Role>) -> Option<Role> {
    if room.owner_id.as_deref() == Some(user.id.as_str()) {
        return Some(Role::Owner);
    }
    role
}

/// The readers of one room, decided per user without a store round trip.
pub struct Audience {
    policy: Arc<dyn Policy>,
    scopes: Arc<Scopes>,
    room: Room,
    /// Members and their roles, when the policy decides by role.
    roles: Option<HashMap<String, Role>>,
}

impl Audience {
    pub fn includes(&self, user: &User) -> bool {
        if !self.scopes.allows_known(user, &self.room.id) {
            return false;
        }
        let role = match &self.roles {
            None => None,
            Some(roles) => owner_or(user, &self.room, roles.get(&user.id).copied()),
        };
        self.policy.allows(
            Need::Read,
            &Facts {
                user,
                room_id: &self.room.id,
                kind: Some(self.room.kind),
                room: Some(&self.room),
                role,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            username: id.into(),
            guest: false,
            admin: false,
            display_name: None,
            bot: false,
        }
    }

    fn facts<'a>(user: &'a User, role: Option<Role>) -> Facts<'a> {
        Facts {
            user,
            room_id: "r",
            kind: None,
            room: None,
            role,
        }
    }

    fn in_kind<'a>(user: &'a User, kind: RoomKind, role: Option<Role>) -> Facts<'a> {
        Facts {
            kind: Some(kind),
            ..facts(user, role)
        }
    }

    #[test]
    fn open_rooms_let_anyone_read_post_and_join_but_only_moderators_moderate() {
        let alice = user("alice");
        let policy = OpenRooms;
        for need in [Need::Read, Need::Post, Need::Join] {
            assert_eq!(policy.lookup(need), Lookup::Nothing);
            assert!(policy.allows(need, &facts(&alice, None)));
        }
        assert!(!policy.allows(Need::Moderate, &facts(&alice, None)));
        assert!(!policy.allows(Need::Moderate, &facts(&alice, Some(Role::Member))));
        assert!(policy.allows(Need::Moderate, &facts(&alice, Some(Role::Admin))));
        assert!(policy.allows(Need::Moderate, &facts(&alice, Some(Role::Owner))));
        assert!(policy.allows(Need::Moderate, &facts(&alice, Some(Role::Moderator))));
        let site_admin = User {
            admin: true,
            ..user("root")
        };
        assert!(policy.allows(Need::Moderate, &facts(&site_admin, None)));
        assert!(!policy.allows(Need::Own, &facts(&site_admin, None)));
        assert!(!policy.allows(Need::Own, &facts(&alice, Some(Role::Admin))));
        assert!(policy.allows(Need::Own, &facts(&alice, Some(Role::Owner))));
    }

    #[test]
    fn public_rooms_need_only_their_kind_for_reading_posting_and_joining() {
        let alice = user("alice");
        let policy = RoomKinds;
        for need in [Need::Read, Need::Post, Need::Join] {
            assert_eq!(policy.lookup(need), Lookup::Kind);
            assert!(policy.allows(need, &in_kind(&alice, RoomKind::Public, None)));
            // Without a kind (no such room) nothing is allowed.
            assert!(!policy.allows(need, &facts(&alice, Some(Role::Owner))));
        }
    }

    #[test]
    fn private_rooms_and_dms_admit_only_their_members() {
        let alice = user("alice");
        let policy = RoomKinds;
        for kind in [RoomKind::Private, RoomKind::Direct] {
            for need in [
                Need::Read,
                Need::Post,
                Need::Join,
                Need::Moderate,
                Need::Own,
            ] {
                assert!(
                    !policy.allows(need, &in_kind(&alice, kind, None)),
                    "{need:?}"
                );
            }
            for need in [Need::Read, Need::Post, Need::Join] {
                assert!(policy.allows(need, &in_kind(&alice, kind, Some(Role::Member))));
            }
            assert!(!policy.allows(Need::Moderate, &in_kind(&alice, kind, Some(Role::Member))));
        }
    }

    #[test]
    fn moderators_room_admins_and_site_admins_moderate_and_only_the_owner_owns() {
        let alice = user("alice");
        let policy = RoomKinds;
        let public = RoomKind::Public;
        for role in [Role::Owner, Role::Admin, Role::Moderator] {
            assert!(policy.allows(Need::Moderate, &in_kind(&alice, public, Some(role))));
        }
        assert!(!policy.allows(Need::Moderate, &in_kind(&alice, public, Some(Role::Member))));
        assert!(!policy.allows(Need::Own, &in_kind(&alice, public, Some(Role::Moderator))));
        assert!(!policy.allows(Need::Own, &in_kind(&alice, public, Some(Role::Admin))));
        assert!(policy.allows(Need::Own, &in_kind(&alice, public, Some(Role::Owner))));
        let mut admin = user("root");
        admin.admin = true;
        assert!(policy.allows(Need::Moderate, &in_kind(&admin, public, None)));
        assert!(!policy.allows(Need::Own, &in_kind(&admin, public, None)));
        // A site admin moderates only rooms they may read: a private room's stranger stays out.
        let private = RoomKind::Private;
        assert!(!policy.allows(Need::Read, &in_kind(&admin, private, None)));
        assert!(!policy.allows(Need::Moderate, &in_kind(&admin, private, None)));
        assert!(policy.allows(
            Need::Moderate,
            &in_kind(&admin, private, Some(Role::Member))
        ));
    }

    /// The send path's check of a public room reads the store once per node, then never: the
    /// kind is cached. (Proof: after the room's row is gone, the cached answer still admits,
    /// where a store read would answer `room_not_found`; a private room is read every time.)
    #[tokio::test]
    async fn a_public_rooms_kind_is_read_once_and_a_private_rooms_membership_every_time() {
        use crate::store::sqlite::SqliteStore;
        use crate::store::{AccountStore, RoomStore};
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
        let alice = store.create_user("alice", None, true).await.unwrap();
        let (public, _) = store.create_room("Open", "", &alice).await.unwrap();
        let (private, _) = store
            .create_room_of_kind("Closed", "", &alice, RoomKind::Private)
            .await
            .unwrap();
        let gate = Gate::new(store.clone(), Arc::new(RoomKinds));
        for room in [&public, &private] {
            let admitted = gate.require(&alice, &room.id, Need::Post, "").await;
            assert!(admitted.is_ok(), "{}", room.name);
        }
        let admitted = gate
            .require(&alice, &public.id, Need::Post, "")
            .await
            .unwrap();
        assert!(
            admitted.room.is_none() && admitted.role.is_none(),
            "no room or role read"
        );
        for room in [&public, &private] {
            store.delete_room(&room.id, &alice).await.unwrap();
        }
        assert!(gate
            .require(&alice, &public.id, Need::Post, "")
            .await
            .is_ok());
        assert!(matches!(
            gate.require(&alice, &private.id, Need::Post, "").await,
            Err(Error::RoomNotFound)
        ));
        store.close().await;
    }
}
