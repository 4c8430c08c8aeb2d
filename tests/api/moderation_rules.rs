//! Moderation (issue #9), continued: who may moderate whom, moderators deleting others'
//! messages, reports reaching the moderators' sockets, and the audit log (site admins only),
//! which records every action. Every test runs on SQLite and on PostgreSQL.

use serde_json::{json, Value};

use crate::helpers::StoreKind;
use crate::moderation::{code, make_site_admin, room_with_member, set_role};

async fn who_may_moderate_whom(store: StoreKind) {
    let (app, (owner, owner_token), (member, member_token), room) = room_with_member(store).await;
    let (moderator, moderator_token) = app.guest("carol").await;
    let (other_mod, other_mod_token) = app.guest("dave").await;
    let (admin, admin_token) = app.guest("erin").await;
    let r = format!("/api/rooms/{}", room.id);
    for token in [&moderator_token, &other_mod_token, &admin_token] {
        app.post(&format!("{r}/join"), Some(token), json!({})).await;
    }
    set_role(&app, &room.id, &moderator.id, "moderator").await;
    set_role(&app, &room.id, &other_mod.id, "moderator").await;
    make_site_admin(&app, &admin.id).await;
    let kick = |token: &str, target: &str| {
        let (token, target) = (token.to_string(), target.to_string());
        let (app, path) = (&app, format!("{r}/kick"));
        async move {
            let (status, body) = app
                .post(&path, Some(&token), json!({"user_id": target}))
                .await;
            (status, code(&body).to_string())
        }
    };
    let refused = |status: u16, code: &str| (status, code.to_string());

    // A plain member moderates nobody.
    assert_eq!(
        kick(&member_token, &moderator.id).await,
        refused(403, "forbidden")
    );
    // Nobody acts on themselves, on the owner or on a site admin.
    assert_eq!(
        kick(&moderator_token, &moderator.id).await,
        refused(400, "cannot_moderate_self")
    );
    assert_eq!(
        kick(&owner_token, &owner.id).await,
        refused(400, "cannot_moderate_self")
    );
    assert_eq!(
        kick(&moderator_token, &owner.id).await,
        refused(403, "cannot_moderate_user")
    );
    assert_eq!(
        kick(&admin_token, &owner.id).await,
        refused(403, "cannot_moderate_user")
    );
    assert_eq!(
        kick(&owner_token, &admin.id).await,
        refused(403, "cannot_moderate_user")
    );
    // A moderator can't act on another moderator; the owner can.
    assert_eq!(
        kick(&moderator_token, &other_mod.id).await,
        refused(403, "cannot_moderate_user")
    );
    let (status, body) = app
        .post(
            &format!("{r}/bans"),
            Some(&moderator_token),
            json!({"user_id": other_mod.id}),
        )
        .await;
    assert_eq!((status, code(&body)), (403, "cannot_moderate_user"));
    assert_eq!(
        kick(&owner_token, &other_mod.id).await,
        (204, String::new())
    );
    // Unknown people, non-members, bad expiries.
    assert_eq!(
        kick(&moderator_token, "nobody").await,
        refused(404, "user_not_found")
    );
    assert_eq!(
        kick(&moderator_token, &other_mod.id).await,
        refused(404, "member_not_found")
    );
    for expires in [json!(0), json!(400_000_000u64), json!(-1), json!("soon")] {
        let (status, body) = app
            .post(
                &format!("{r}/mutes"),
                Some(&moderator_token),
                json!({"user_id": member.id, "expires_in_secs": expires}),
            )
            .await;
        assert_eq!(status, 400, "expires_in_secs {expires}: {body}");
    }
    // A moderator moderates a member; a site admin moderates in any room.
    assert_eq!(
        kick(&moderator_token, &member.id).await,
        (204, String::new())
    );
    let (status, _) = app
        .post(
            &format!("{r}/mutes"),
            Some(&admin_token),
            json!({"user_id": member.id}),
        )
        .await;
    assert_eq!(status, 201);
    // Moderators clear; members don't.
    let (status, body) = app
        .post(&format!("{r}/clear"), Some(&member_token), json!({}))
        .await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, _) = app
        .post(&format!("{r}/clear"), Some(&moderator_token), json!({}))
        .await;
    assert_eq!(status, 204);
    // Only moderators list bans, mutes and reports.
    for list in ["bans", "mutes", "reports"] {
        let (status, body) = app.get(&format!("{r}/{list}"), Some(&member_token)).await;
        assert_eq!((status, code(&body)), (403, "forbidden"), "{list}");
        let (status, _) = app
            .get(&format!("{r}/{list}"), Some(&moderator_token))
            .await;
        assert_eq!(status, 200, "{list}");
    }
    let (status, body) = app
        .post(
            "/api/rooms/nope/kick",
            Some(&owner_token),
            json!({"user_id": member.id}),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "room_not_found"));
}

async fn moderators_delete_anyones_message_and_members_only_their_own(store: StoreKind) {
    let (app, (_, owner_token), (member, member_token), room) = room_with_member(store).await;
    let (moderator, moderator_token) = app.guest("carol").await;
    let (other, other_token) = app.guest("other").await;
    let r = format!("/api/rooms/{}", room.id);
    for token in [&moderator_token, &other_token] {
        app.post(&format!("{r}/join"), Some(token), json!({})).await;
    }
    set_role(&app, &room.id, &moderator.id, "moderator").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (status, message) = app
            .post(
                &format!("{r}/messages"),
                Some(&member_token),
                json!({"client_id": format!("m{i}"), "body": format!("message {i}")}),
            )
            .await;
        assert_eq!(status, 201);
        ids.push(message["id"].as_str().unwrap().to_string());
    }
    let (status, body) = app
        .delete(&format!("{r}/messages/{}", ids[0]), Some(&other_token))
        .await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, _) = app
        .delete(&format!("{r}/messages/{}", ids[0]), Some(&moderator_token))
        .await;
    assert_eq!(status, 204);
    // Over the socket too.
    let mut ws = app.ws(&moderator_token).await;
    ws.subscribe(&room.id, None).await;
    ws.send(json!({"type": "delete", "room_id": room.id, "message_id": ids[1], "ref": 7}))
        .await;
    let deleted = ws.expect_event("message.deleted").await;
    assert_eq!(deleted["message_id"], ids[1].as_str());
    let (status, _) = app
        .delete(&format!("{r}/messages/{}", ids[2]), Some(&owner_token))
        .await;
    assert_eq!(status, 204);
    assert!(app.history(&other_token, &room.id).await.is_empty());
    // Each deletion of someone else's message is audited, naming the author.
    make_site_admin(&app, &other.id).await;
    let (status, audit) = app.get("/api/admin/audit", Some(&other_token)).await;
    assert_eq!(status, 200);
    let deletions: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "delete_message")
        .collect();
    assert_eq!(deletions.len(), 3);
    for entry in &deletions {
        assert_eq!(entry["target_user_id"], member.id.as_str());
        assert_eq!(entry["room_id"], room.id.as_str());
    }
    assert_eq!(deletions[2]["actor"]["id"], moderator.id.as_str());
    assert_eq!(deletions[2]["detail"]["message_id"], ids[0].as_str());
}

async fn a_report_reaches_the_moderators_sockets(store: StoreKind) {
    let (app, (owner, owner_token), (member, member_token), room) = room_with_member(store).await;
    let (bystander, bystander_token) = app.guest("bystander").await;
    let r = format!("/api/rooms/{}", room.id);
    let (_, message) = app
        .post(
            &format!("{r}/messages"),
            Some(&owner_token),
            json!({"client_id": "rude", "body": "something rude"}),
        )
        .await;
    let message_id = message["id"].as_str().unwrap();
    let report_path = format!("{r}/messages/{message_id}/report");
    let mut moderator_ws = app.ws(&owner_token).await;
    let mut bystander_ws = app.ws(&bystander_token).await;
    bystander_ws.subscribe(&room.id, None).await;

    for reason in [json!(""), json!("   "), json!("x".repeat(501))] {
        let (status, body) = app
            .post(&report_path, Some(&member_token), json!({"reason": reason}))
            .await;
        assert_eq!((status, code(&body)), (400, "invalid_reason"));
    }
    let (status, body) = app
        .post(
            &format!("{r}/messages/nope/report"),
            Some(&member_token),
            json!({"reason": "spam"}),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "message_not_found"));

    let (status, report) = app
        .post(
            &report_path,
            Some(&member_token),
            json!({"reason": "  rude  "}),
        )
        .await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(report["room_id"], room.id.as_str());
    assert_eq!(report["message"]["id"], message_id);
    assert_eq!(report["reporter"]["id"], member.id.as_str());
    assert_eq!(report["reason"], "rude");
    assert!(report["id"].is_string() && report["created_at"].is_string());
    let frame = moderator_ws.expect("report").await;
    assert_eq!(
        frame,
        json!({"type": "report", "room_id": room.id, "report": report})
    );
    // Nobody else hears of it.
    crate::moderation::nothing_more_of(&mut bystander_ws, &room.id).await;
    let (_, reports) = app.get(&format!("{r}/reports"), Some(&owner_token)).await;
    assert_eq!(reports, json!([report]));
    let _ = (owner, bystander);

    // Reports are rate limited per person.
    let (mut limited, mut stored) = (false, 1);
    for _ in 0..palaver::chat::limits::REPORTS_PER_MINUTE {
        let (status, body) = app
            .post(
                &report_path,
                Some(&member_token),
                json!({"reason": "again"}),
            )
            .await;
        if status == 429 {
            assert_eq!(code(&body), "rate_limited");
            limited = true;
            break;
        }
        assert_eq!(status, 201);
        stored += 1;
    }
    assert!(limited, "the reports per minute are limited");
    let (_, reports) = app
        .get(&format!("{r}/reports?limit=3"), Some(&owner_token))
        .await;
    let page = reports.as_array().unwrap();
    assert_eq!(page.len(), 3);
    let (_, older) = app
        .get(
            &format!(
                "{r}/reports?limit=200&before={}",
                page[2]["id"].as_str().unwrap()
            ),
            Some(&owner_token),
        )
        .await;
    assert_eq!(older.as_array().unwrap().len() + 3, stored);
}

async fn the_audit_log_has_every_action_and_only_admins_read_it(store: StoreKind) {
    let (app, (owner, owner_token), (member, member_token), room) = room_with_member(store).await;
    let (admin, admin_token) = app.guest("erin").await;
    let r = format!("/api/rooms/{}", room.id);
    let target = json!({"user_id": member.id});
    let (_, message) = app
        .post(
            &format!("{r}/messages"),
            Some(&member_token),
            json!({"client_id": "a", "body": "audited"}),
        )
        .await;
    let message_id = message["id"].as_str().unwrap().to_string();
    let report_path = format!("{r}/messages/{message_id}/report");
    let (status, _) = app
        .post(&report_path, Some(&admin_token), json!({"reason": "look"}))
        .await;
    assert_eq!(status, 201);
    let steps: [(&str, Value); 5] = [
        (
            "mutes",
            json!({"user_id": member.id, "expires_in_secs": 60}),
        ),
        ("bans", target.clone()),
        ("kick", target.clone()),
        ("clear", json!({})),
        ("bans", target.clone()),
    ];
    for (i, (path, body)) in steps.into_iter().enumerate() {
        if i == 2 {
            // Lift both, let them back in, then kick them.
            for lift in ["mutes", "bans"] {
                let (status, _) = app
                    .delete(&format!("{r}/{lift}/{}", member.id), Some(&owner_token))
                    .await;
                assert_eq!(status, 204);
            }
            app.post(&format!("{r}/join"), Some(&member_token), json!({}))
                .await;
        }
        if i == 3 {
            let (status, _) = app
                .post(
                    &format!("{r}/messages"),
                    Some(&owner_token),
                    json!({"client_id": "b", "body": "to delete"}),
                )
                .await;
            assert_eq!(status, 201);
        }
        let (status, body) = app
            .post(&format!("{r}/{path}"), Some(&owner_token), body)
            .await;
        assert!(status == 201 || status == 204, "{path}: {status} {body}");
    }
    // Refused actions change nothing and record nothing.
    let (status, body) = app
        .post(&format!("{r}/kick"), Some(&owner_token), target)
        .await;
    assert_eq!((status, code(&body)), (404, "member_not_found"));
    let (status, body) = app
        .delete(&format!("{r}/mutes/{}", member.id), Some(&owner_token))
        .await;
    assert_eq!((status, code(&body)), (404, "mute_not_found"));
    let (status, _) = app.delete(&r, Some(&owner_token)).await;
    assert_eq!(status, 204);

    // Only site admins read it.
    let (status, body) = app.get("/api/admin/audit", Some(&owner_token)).await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, _) = app.get("/api/admin/audit", None).await;
    assert_eq!(status, 401);
    make_site_admin(&app, &admin.id).await;
    let (status, audit) = app.get("/api/admin/audit", Some(&admin_token)).await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit.as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "delete_room",
            "ban",
            "clear",
            "kick",
            "unban",
            "unmute",
            "ban",
            "mute",
            "report"
        ],
        "newest first"
    );
    let by_owner = entries
        .iter()
        .filter(|e| e["actor"]["id"] == owner.id.as_str());
    assert_eq!(by_owner.count(), 8);
    assert_eq!(entries[8]["actor"]["id"], admin.id.as_str());
    assert_eq!(entries[8]["detail"]["message_id"], message_id.as_str());
    assert_eq!(entries[8]["detail"]["reason"], "look");
    assert_eq!(entries[7]["target_user_id"], member.id.as_str());
    assert!(entries[7]["detail"]["expires_at"].is_string());
    assert_eq!(entries[6]["detail"]["expires_at"], Value::Null);
    assert_eq!(entries[0]["detail"]["name"], "Moderated");
    for entry in entries {
        assert_eq!(entry["room_id"], room.id.as_str());
        assert!(entry["id"].is_string() && entry["at"].is_string());
    }
    // Paged, newest first.
    let (_, first) = app
        .get("/api/admin/audit?limit=4", Some(&admin_token))
        .await;
    let first = first.as_array().unwrap();
    assert_eq!(first[..], entries[..4]);
    let before = first[3]["id"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("/api/admin/audit?before={before}"),
            Some(&admin_token),
        )
        .await;
    assert_eq!(rest.as_array().unwrap()[..], entries[4..]);
    for bad in ["limit=0", "limit=201", "limit=x"] {
        let (status, _) = app
            .get(&format!("/api/admin/audit?{bad}"), Some(&admin_token))
            .await;
        assert_eq!(status, 400, "{bad}");
    }
}

crate::both_stores!(
    who_may_moderate_whom,
    moderators_delete_anyones_message_and_members_only_their_own,
    a_report_reaches_the_moderators_sockets,
    the_audit_log_has_every_action_and_only_admins_read_it,
);
