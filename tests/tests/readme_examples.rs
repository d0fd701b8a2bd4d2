//! The READMEs' examples, run the way the READMEs tell a new user to run them: the workspace
//! README's demo (`cargo run --example quickstart`), the core's demo, and each adapter crate's
//! example (`cargo run -p <crate> --example <name>`) against a server on loopback (the in-process
//! test server standing in for `python3 -m aiosmtpd -n`), checked to be the very code the
//! READMEs show.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use smtp_tests::server::Server;

/// (crate, example) pairs: each README's runnable example.
const EXAMPLES: [(&str, &str); 3] = [
    ("smtp-blocking", "blocking_readme"),
    ("smtp-smol", "smol_readme"),
    ("smtp-async-std", "async_std_readme"),
];

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
}

/// The example's code as the README shows it: the file without its `//!` header.
fn example_code(krate: &str, example: &str) -> String {
    let path = workspace_root().join(format!("{krate}/examples/{example}.rs"));
    let source = std::fs::read_to_string(&path).expect("example source");
    source
        .lines()
        .skip_while(|l| l.starts_with("//!") || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn readmes_show_the_examples_they_run() {
    for (krate, example) in EXAMPLES {
        let readme = std::fs::read_to_string(workspace_root().join(format!("{krate}/README.md")))
            .expect("README");
        let code = example_code(krate, example);
        assert!(
            readme.contains(&format!("```rust,no_run\n{code}```")),
            "{krate}/README.md does not show examples/{example}.rs as it is"
        );
        assert!(
            readme.contains(&format!("cargo run -p {krate} --example {example}")),
            "{krate}/README.md does not say how to run its example"
        );
    }
}

#[test]
fn readme_examples_deliver_their_message() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    for (krate, example) in EXAMPLES {
        let server = Server::start().expect("test server");
        let output = Command::new(&cargo)
            .current_dir(workspace_root())
            .args(["run", "--quiet", "-p", krate, "--example", example])
            .env("SMTP_PORT", server.port().to_string())
            .output()
            .expect("cargo run");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{krate} example failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("sent; refused recipients: []"),
            "{krate}: {stdout}"
        );
        let sessions = server.wait_finished(1, Duration::from_secs(10));
        assert_eq!(sessions.len(), 1, "{krate}: one connection");
        let messages = server.messages();
        assert_eq!(messages.len(), 1, "{krate}: one message");
        let message = &messages[0];
        assert_eq!(message.sender(), "alice@example.org");
        assert_eq!(message.recipients(), ["bob@example.net"]);
        let text = String::from_utf8_lossy(&message.data);
        assert!(text.starts_with("From: alice@example.org\r\n"), "{text}");
        assert!(
            text.ends_with(&format!("Hello Bob, this came through {krate}.\r\n")),
            "{text}"
        );
    }
}

/// Runs `cargo run <args>` from the workspace root; returns stdout (the run must succeed).
fn cargo_run(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["run", "--quiet"])
        .args(args)
        .output()
        .expect("cargo run");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "cargo run {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The README's first command: the quickstart demo, a whole session against an in-process
/// server over STARTTLS, must deliver its message (one recipient refused, Bcc stripped).
#[test]
fn the_readme_demo_delivers_over_starttls() {
    let out = cargo_run(&["--example", "quickstart"]);
    assert!(out.contains("the server received (TLS: true)"), "{out}");
    assert!(out.contains("RCPT TO:<bob@example.net>"), "{out}");
    assert!(out.contains("nobody@example.net: 550"), "{out}");
    assert!(out.contains("\nSubject: Hello from smtp-blocking"), "{out}");
    assert!(
        !out.to_ascii_lowercase().contains("\nbcc:"),
        "Bcc reached the server: {out}"
    );
}

/// The core's demo (client and server in memory) runs and shows a redacted AUTH.
#[test]
fn the_core_demo_runs_in_memory() {
    let out = cargo_run(&["-p", "smtp-proto", "--example", "demo"]);
    assert!(out.contains("C: AUTH PLAIN <redacted>"), "{out}");
    assert!(out.contains("C: MAIL FROM:<alice@example.org>"), "{out}");
}
