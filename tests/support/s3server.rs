//! A real S3-compatible server for the tests of the S3 blob store: `s3s-fs` (the s3s project's
//! file-system backed server, Apache-2.0), started on a free port over a temporary directory with
//! its own credentials, and stopped when dropped. `scripts/test.sh` installs it
//! (`cargo install s3s-fs --version 0.14.1 --features binary --locked`, into ~/.cargo/bin).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BUCKET: &str = "palaver-test";
/// The key prefix the tests' servers are given (`s3://BUCKET/PREFIX`), so prefixes are tested.
pub const PREFIX: &str = "chat/files";
const ACCESS_KEY: &str = "palaver-test-key";
const SECRET_KEY: &str = "palaver-test-secret-0123456789";

pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The server's data: `<root>/<bucket>/<key>` for an object, `<root>/.upload-*.json` for a
    /// multipart upload in flight.
    root: tempfile::TempDir,
}

/// Where `s3s-fs` is: `S3S_FS`, else on the PATH, else in ~/.cargo/bin.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("S3S_FS") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("s3s-fs"))
            .find(|candidate| candidate.is_file())
    });
    if let Some(path) = on_path {
        return path;
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .unwrap_or_default();
    let path = cargo_home.join("bin/s3s-fs");
    assert!(
        path.is_file(),
        "s3s-fs is not installed: run scripts/test.sh, or \
         `cargo install s3s-fs --version 0.14.1 --features binary --locked`"
    );
    path
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("the bucket's directory");
        let mut child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .env("RUST_LOG", "s3s_fs=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        // It prints its address once bound (port 0: a free one); the rest of its output is read
        // and dropped so it never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("server is running at ") {
                    let addr = line[at + "server is running at ".len()..]
                        .trim()
                        .to_string();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let endpoint = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(endpoint) => endpoint,
            Err(_) => {
                let _ = child.kill();
                panic!("s3s-fs did not say where it listens");
            }
        };
        S3Server {
            child,
            endpoint,
            root,
        }
    }

    /// `s3://BUCKET/PREFIX`.
    pub fn url(&self) -> String {
        format!("s3://{BUCKET}/{PREFIX}")
    }

    /// Points a server's config at this bucket.
    pub fn configure(&self, config: &mut palaver::config::Config) {
        config.files_url = Some(self.url());
        config.s3_endpoint = Some(self.endpoint.clone());
        config.s3_region = Some("us-east-1".into());
        config.s3_access_key_id = Some(ACCESS_KEY.into());
        config.s3_secret_access_key = Some(SECRET_KEY.into());
    }

    pub fn settings(&self) -> palaver::store::s3blobs::S3Settings {
        palaver::store::s3blobs::S3Settings {
            url: self.url(),
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(SECRET_KEY.into()),
        }
    }

    /// Where the server keeps the object with this key (under the prefix).
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(PREFIX).join(key)
    }

    /// Whether the object with this key (under the prefix) is on the server.
    pub fn has_object(&self, key: &str) -> bool {
        self.object_file(key).is_file()
    }

    /// The server's files of objects under `tmp/` and of multipart uploads not finished nor
    /// aborted: what an upload in flight (or one a crash left) holds.
    pub fn temporaries(&self) -> usize {
        fn files_under(dir: &Path) -> usize {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|entry| {
                            let path = entry.path();
                            if path.is_dir() {
                                files_under(&path)
                            } else {
                                1
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        files_under(&self.object_file("tmp")) + self.unfinished_multipart_uploads()
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub fn unfinished_multipart_uploads(&self) -> usize {
        std::fs::read_dir(self.root.path())
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|entry| {
                        let name = entry.file_name();
                        let name = name.to_string_lossy();
                        name.starts_with(".upload-") && name.ends_with(".json")
                    })
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
