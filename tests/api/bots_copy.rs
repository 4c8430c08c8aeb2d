//! `palaver copy-to-postgres` carries bots and webhooks: after the copy, a bot's token still
//! signs in and is still limited to its rooms, and a webhook's URL still posts.

use serde_json::json;

use crate::bots::person;
use crate::helpers::spawn_with;
use crate::pgdb;

#[tokio::test]
async fn bots_and_webhooks_survive_the_copy_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let mut single = spawn_with(move |c| c.data_dir = data_dir).await;
    let (_, owner) = person(&single, "copier").await;
    let home = single.create_room(&owner, "Bot Home").await;
    let away = single.create_room(&owner, "Elsewhere").await;
    let request = json!({"username": "moving-bot", "room_ids": [home.id]});
    let (status, made) = single.post("/api/bots", Some(&owner), request).await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    let hooks = format!("/api/rooms/{}/webhooks", home.id);
    let (status, hook) = single
        .post(&hooks, Some(&owner), json!({"name": "moving-hook"}))
        .await;
    assert_eq!(status, 201, "{hook}");
    let (_, bots_before) = single.get("/api/bots", Some(&owner)).await;
    let (_, hooks_before) = single.get(&hooks, Some(&owner)).await;
    single.stop().await;

    let target = pgdb::TestDatabase::create().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_palaver"))
        .args(["copy-to-postgres", "--from"])
        .arg(dir.path())
        .args(["--to", &target.url])
        .output()
        .await
        .expect("the palaver binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for table in ["bots", "bot_rooms", "webhooks"] {
        assert!(stdout.contains(table), "{table} copied: {stdout}");
    }

    let url = target.url.clone();
    let cluster = spawn_with(move |c| c.database_url = Some(url)).await;
    assert_eq!(cluster.get("/api/bots", Some(&owner)).await.1, bots_before);
    assert_eq!(cluster.get(&hooks, Some(&owner)).await.1, hooks_before);
    let (status, me) = cluster.get("/api/me", Some(&token)).await;
    assert_eq!((status, me["bot"].clone()), (200, json!(true)));
    let (status, body) = cluster
        .get(&format!("/api/rooms/{}", away.id), Some(&token))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("room_not_found"))
    );
    assert_eq!(
        cluster
            .get(&format!("/api/rooms/{}", home.id), Some(&token))
            .await
            .0,
        200
    );
    let url = hook["url"].as_str().unwrap();
    let (status, posted) = cluster
        .post(url, None, json!({"body": "from postgres"}))
        .await;
    assert_eq!(status, 201, "{posted}");
}
