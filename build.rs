//! Makes cargo rebuild the binary when the web UI it embeds changes.
//!
//! A release binary carries `web/dist` inside it (rust-embed, see `src/http/ui.rs`). rust-embed
//! only tells cargo about the files that existed when it ran, so a binary built before the UI was
//! (`cargo build --release`, then `scripts/run.sh` builds the UI) stayed "up to date" and served
//! the "no web UI yet" page. Here cargo is told to watch the whole `web/dist` directory, which it
//! scans recursively: a new, changed or removed file reruns this script, and that recompiles the
//! crate with the new files.
//!
//! Cargo treats a watched path that does not exist as changed on every build, which would
//! recompile the crate every time until a UI is built. So the directory is created empty when it
//! is missing (an empty folder embeds nothing: the placeholder page shows, as before), and
//! creating files in it later is a change cargo sees.
//!
//! Builds with debug assertions read the UI from disk at run time (rust-embed's debug mode), so
//! they need no rebuild and watch nothing here.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some() {
        return;
    }
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dist = Path::new(&manifest).join("web").join("dist");
    if !dist.exists() {
        if let Err(err) = std::fs::create_dir_all(&dist) {
            println!(
                "cargo:warning=could not create {} ({err}); the binary will not notice a UI built later",
                dist.display()
            );
        }
    }
    println!("cargo:rerun-if-changed=web/dist");
}
