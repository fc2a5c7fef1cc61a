//! `Secret::from_file`, `Secret::from_shared_file` and `Secret::from_command`: where operations
//! keep secrets (systemd credentials, container secrets, 1Password's `op`, `pass`).

#[path = "support/tempdir.rs"]
mod tempdir;

use std::{
    io::Write,
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    time::{Duration, Instant},
};

use authed::{ExposeSecret, MAX_SECRET_FILE, Secret};
use tempdir::TempDir;

const CANARY: &str = "s3cret-canary-7d41";

fn secret_file(name: &str, content: &[u8], mode: u32) -> (TempDir, PathBuf) {
    let dir = TempDir::new(name);
    let path = dir.path().join("secret");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, path)
}

#[test]
fn a_private_file_is_read_with_one_trailing_newline_removed() {
    for (content, expected) in [
        (format!("{CANARY}\n"), CANARY.to_owned()),
        (format!("{CANARY}\r\n"), CANARY.to_owned()),
        (CANARY.to_owned(), CANARY.to_owned()),
        (format!("{CANARY}\n\n"), format!("{CANARY}\n")),
    ] {
        let (_dir, path) = secret_file("trim", content.as_bytes(), 0o600);
        let secret = Secret::from_file(&path).unwrap();
        assert_eq!(secret.expose_secret(), expected, "{content:?}");
    }
    let (_dir, path) = secret_file("ro", CANARY.as_bytes(), 0o400);
    assert_eq!(Secret::from_file(&path).unwrap().expose_secret(), CANARY);
}

#[test]
fn a_file_others_can_read_is_refused_unless_shared_is_asked_for() {
    for mode in [0o644, 0o640, 0o604] {
        let (_dir, path) = secret_file("mode", CANARY.as_bytes(), mode);
        let err = Secret::from_file(&path).unwrap_err();
        let text = err.to_string();
        assert!(err.is_config(), "{text}");
        assert!(
            text.contains(&path.display().to_string()),
            "names the path: {text}"
        );
        assert!(text.contains("chmod 600"), "says what to do: {text}");
        assert!(!text.contains(CANARY), "never the content: {text}");
        assert_eq!(
            Secret::from_shared_file(&path).unwrap().expose_secret(),
            CANARY
        );
    }
}

#[test]
fn missing_empty_huge_binary_and_directory_files_are_typed_errors_without_content() {
    let dir = TempDir::new("bad");
    let missing = dir.path().join("nope");
    let err = Secret::from_file(&missing).unwrap_err();
    assert!(err.is_config() && err.to_string().contains("nope"), "{err}");

    let (_d1, empty) = secret_file("empty", b"\n", 0o600);
    assert!(
        Secret::from_file(&empty)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );

    let big = vec![b'x'; usize::try_from(MAX_SECRET_FILE).unwrap() + 1];
    let (_d2, huge) = secret_file("huge", &big, 0o600);
    assert!(
        Secret::from_file(&huge)
            .unwrap_err()
            .to_string()
            .contains("larger")
    );

    let mut binary = CANARY.as_bytes().to_vec();
    binary.push(0xff);
    let (_d3, bin) = secret_file("bin", &binary, 0o600);
    let err = Secret::from_file(&bin).unwrap_err().to_string();
    assert!(err.contains("UTF-8") && !err.contains(CANARY), "{err}");

    let err = Secret::from_shared_file(dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a regular file"), "{err}");
}

#[tokio::test]
async fn a_command_prints_the_secret() {
    let secret = Secret::from_command("printf", ["%s\n", CANARY], Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(secret.expose_secret(), CANARY);
}

#[tokio::test]
async fn a_failing_command_does_not_leak_its_error_output() {
    let script = format!("echo {CANARY} >&2; echo partial-{CANARY}; exit 3");
    let err = Secret::from_command("sh", ["-c", script.as_str()], Duration::from_secs(10))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(err.is_config(), "{text}");
    assert!(
        text.contains("\"sh\"") && text.contains('3'),
        "names program and status: {text}"
    );
    assert!(!text.contains(CANARY), "neither stderr nor stdout: {text}");
    assert!(!format!("{err:?}").contains(CANARY));
}

#[tokio::test]
async fn a_slow_command_is_killed_at_its_timeout() {
    let started = Instant::now();
    let err = Secret::from_command("sleep", ["30"], Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did not finish"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn missing_silent_and_flooding_commands_are_typed_errors() {
    let err = Secret::from_command("authed-no-such-program", [""; 0], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("could not be started"), "{err}");

    let err = Secret::from_command("true", [""; 0], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");

    let started = Instant::now();
    let err = Secret::from_command("yes", [CANARY], Duration::from_secs(10))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("larger"), "{text}");
    assert!(!text.contains(CANARY));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped, not timed out"
    );
}
