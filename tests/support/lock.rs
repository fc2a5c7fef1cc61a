//! A lock shared by every test thread and test process using this target directory (test
//! binaries may run at once: under cargo-nextest, or `cargo test` in two terminals), for setup
//! steps that must happen one at a time, such as installing the OIDC server's packages.
#![allow(dead_code)]

use std::{fs::File, path::PathBuf};

/// Where lock files live: cargo's scratch directory for integration tests, under `target/`.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// Blocks until this process holds the lock `name` (a file under [`dir`]); it is released
/// when the returned file is dropped, or when the process ends, however it ends.
pub fn exclusive(name: &str) -> Result<File, String> {
    let dir = dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join(format!("authed-{name}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    file.lock()
        .map_err(|e| format!("locking {}: {e}", path.display()))?;
    Ok(file)
}
