//! Node packages of the test servers and drivers (tests/oidc, tests/limiters, tests/browser),
//! pinned by their `package-lock.json` and installed with `npm ci`, once, under a lock shared
//! by every test process. `NPM` overrides the `npm` executable.
#![allow(dead_code)]

use std::{path::Path, process::Stdio};

// The includer declares `#[path = "lock.rs"] mod lock;` (once: clippy::duplicate_mod).
use super::lock;

/// Runs `npm ci --prefix <dir>` in `root` (the repository) unless it has been done: `dir` is
/// relative to `root` (`tests/oidc`), and `package` one of its packages, whose presence with
/// npm's `node_modules/.package-lock.json` (written last) says the install completed.
pub fn ci(root: &Path, dir: &str, package: &str) -> Result<(), String> {
    let modules = root.join(dir).join("node_modules");
    let installed = || {
        modules.join(".package-lock.json").is_file()
            && modules.join(package).join("package.json").is_file()
    };
    if installed() {
        return Ok(());
    }
    let _lock = lock::exclusive(&format!("npm-ci-{}", dir.replace('/', "-")))?;
    if installed() {
        return Ok(());
    }
    let npm = std::env::var_os("NPM").unwrap_or_else(|| "npm".into());
    let args = ["ci", "--prefix", dir, "--no-audit", "--no-fund"];
    let output = std::process::Command::new(&npm)
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "`{}` not found: install Node.js >= 18 with npm",
                npm.to_string_lossy()
            ),
            _ => format!("could not run `{}`: {e}", npm.to_string_lossy()),
        })?;
    if !output.status.success() || !installed() {
        return Err(format!(
            "`npm {}` in {} failed ({}):\n{}\n{}",
            args.join(" "),
            root.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}
