//! nginx (Debian's) in front of two nodes, configured by the shipped deploy/nginx.conf with
//! loopback addresses swapped in.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::chatter::Chatter;
use crate::harness::{connect, eventually, free_port, Cluster, ClusterOptions};

const NGINX: &str = "/usr/sbin/nginx";

/// Stops nginx (master and workers) with SIGQUIT when dropped, pass or fail.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-QUIT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// deploy/nginx.conf with the compose addresses replaced by loopback ones, and nginx's scratch
/// paths moved into `dir` (so it runs without root).
fn nginx_conf(dir: &Path, listen: u16, nodes: [u16; 2]) -> String {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf"))
            .expect("deploy/nginx.conf");
    let mut conf = shipped;
    for (from, to) in [
        (
            "server palaver1:8080",
            format!("server 127.0.0.1:{}", nodes[0]),
        ),
        (
            "server palaver2:8080",
            format!("server 127.0.0.1:{}", nodes[1]),
        ),
        ("listen 80;", format!("listen 127.0.0.1:{listen};")),
    ] {
        assert!(
            conf.contains(from),
            "deploy/nginx.conf no longer has `{from}`"
        );
        conf = conf.replacen(from, &to, 1);
    }
    let scratch = dir.display();
    conf.replacen(
        "http {",
        &format!(
            "http {{\n    client_body_temp_path {scratch}/body;\n    proxy_temp_path {scratch}/proxy;\n    \
             fastcgi_temp_path {scratch}/fastcgi;\n    uwsgi_temp_path {scratch}/uwsgi;\n    \
             scgi_temp_path {scratch}/scgi;\n"
        ),
        1,
    )
}

#[tokio::test]
async fn nginx_in_front_of_two_nodes_survives_a_node_restart() {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: run the README's test command, which installs nginx"
    );
    let ports = [free_port(), free_port()];
    let mut cluster = Cluster::start(ClusterOptions {
        ports: ports.to_vec(),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let listen = free_port();
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, nginx_conf(dir.path(), listen, ports)).unwrap();
    let log = std::fs::File::create(dir.path().join("nginx.log")).unwrap();
    let _nginx = Nginx(
        std::process::Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .args(["-e", "stderr", "-g"])
            .arg(format!(
                "daemon off; pid {}/nginx.pid;",
                dir.path().display()
            ))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nginx starts"),
    );
    eventually("nginx to listen", || async move {
        TcpStream::connect(("127.0.0.1", listen))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let lb = format!("127.0.0.1:{listen}");
    let base = format!("http://{lb}");

    // REST through nginx.
    let (_, owner_token) = cluster.guest(&base, "owner").await;
    let room = cluster.create_room(&base, &owner_token, "Balanced").await;

    // Sockets through nginx land on both nodes (round robin per nginx worker): open them until
    // each node has at least two.
    let mut chatters: Vec<Chatter> = Vec::new();
    let count =
        |chatters: &[Chatter], node: &str| chatters.iter().filter(|c| c.node_id() == node).count();
    while count(&chatters, "node-a") < 2 || count(&chatters, "node-b") < 2 {
        assert!(
            chatters.len() < 30,
            "nginx never spread sockets over both nodes"
        );
        let name = format!("user{}", chatters.len());
        let (_, token) = cluster.guest(&base, &name).await;
        chatters.push(Chatter::join(&name, &token, &room, vec![lb.clone()], 0).await);
    }
    for (i, chatter) in chatters.iter_mut().enumerate() {
        chatter
            .send(&format!("before-{i}"), "before the restart")
            .await;
    }

    // Node A restarts gracefully: its sockets close with 1001, the clients reconnect through
    // nginx and land on node B while A is down; sends keep working throughout.
    let restart_started = Instant::now();
    cluster.nodes[0].stop().await;
    for (i, chatter) in chatters.iter_mut().enumerate() {
        chatter
            .send(&format!("during-{i}"), "while A is down")
            .await;
    }
    assert!(chatters.iter().all(|c| c.node_id() == "node-b"));
    cluster.nodes[0].start().await;
    eprintln!(
        "node A restart behind nginx: down and back in {:?}",
        restart_started.elapsed()
    );
    for (i, chatter) in chatters.iter_mut().enumerate() {
        chatter.send(&format!("after-{i}"), "A is back").await;
    }
    // New sockets reach the restarted node again.
    let (_, token) = cluster.guest(&base, "late").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ws = connect(&lb, &token).await.unwrap();
        let node = ws.node_id().to_string();
        ws.close().await;
        if node == "node-a" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nginx never sent a socket to the restarted node"
        );
    }

    let (last_seq, ids) = cluster.store_view(&base, &owner_token, &room).await;
    assert_eq!(ids.len(), 3 * chatters.len());
    for chatter in &mut chatters {
        chatter.catch_up_to(last_seq).await;
        assert_eq!(chatter.created, ids, "{}", chatter.name);
    }
    for chatter in chatters {
        chatter.close().await;
    }
}
