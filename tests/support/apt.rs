//! Programs the tests need from Debian packages (nginx, redis-server, chromium): found on
//! `PATH`, in `/usr/sbin` or `/usr/bin`, else installed with `apt-get` (as root, or with `sudo -n`: never
//! a password prompt nobody can answer), once, under a lock shared by every test process.
//! Installing a Debian package may also set up its system service (started where an init
//! system runs one); the tests never use it, they run their own instance.
#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

// The includer declares `#[path = "lock.rs"] mod lock;` (once: clippy::duplicate_mod).
use super::lock;

/// How long `apt-get` may wait for another apt or dpkg run to finish (other test processes,
/// another developer's install) rather than failing on its lock.
const APT_LOCK_TIMEOUT_SECS: u32 = 300;

/// `override_var` if set, else `program` on `PATH` or in `/usr/sbin`, else `package`
/// installed with apt-get and then `program` found.
pub fn program(program: &str, package: &str, override_var: &str) -> Result<PathBuf, String> {
    any_program(&[program], package, override_var)
}

/// [`program`] for a program known by several names (`chromium`, `chromium-browser`, ...):
/// the first found, in that order.
pub fn any_program(names: &[&str], package: &str, override_var: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(override_var).filter(|v| !v.is_empty()) {
        return Ok(path.into());
    }
    let found = || names.iter().find_map(|name| find(name));
    if let Some(found) = found() {
        return Ok(found);
    }
    let _lock = lock::exclusive(&format!("apt-{package}"))?;
    if let Some(found) = found() {
        return Ok(found);
    }
    install(package, names[0])?;
    found().ok_or_else(|| {
        format!(
            "apt-get installed {package}, but no `{}` executable is found",
            names.join("` or `")
        )
    })
}

/// `name` on `PATH` or in `/usr/sbin`.
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether this process runs as root (the owner of `/proc/self` is its effective user).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn install(package: &str, program: &str) -> Result<(), String> {
    if find("apt-get").is_none() {
        return Err(format!(
            "`{program}` is not installed and there is no apt-get to install {package}"
        ));
    }
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo", "-n"] };
    let lock_timeout = format!("DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_SECS}");
    let steps: [&[&str]; 2] = [
        &["apt-get", "update", "-qq", "-o", &lock_timeout],
        &[
            "apt-get",
            "install",
            "-y",
            "-qq",
            "-o",
            &lock_timeout,
            "--no-install-recommends",
            package,
        ],
    ];
    for step in steps {
        let argv: Vec<&str> = sudo.iter().chain(step).copied().collect();
        let output = Command::new(argv[0])
            .args(&argv[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run `{}`: {e}", argv.join(" ")))?;
        if !output.status.success() {
            return Err(format!(
                "`{program}` is not installed, and `{}` failed ({}):\n{}\n{}",
                argv.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}
