//! Every transcript in `tests/transcripts/` against the sans-IO core: each server flight fed
//! whole, split at every point, and byte by byte, with virtual time.

use std::path::Path;

use smtp_tests::sansio::run_all_feeds;
use smtp_tests::transcript::Transcript;

#[test]
fn transcripts_against_the_core() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("transcripts");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("transcripts directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "smtp"))
        .collect();
    entries.sort();
    assert!(
        !entries.is_empty(),
        "expected the transcript suite, found {}",
        entries.len()
    );
    let mut failures = Vec::new();
    let mut runs = 0;
    for path in &entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        let text = std::fs::read_to_string(path).expect("readable transcript");
        let outcome = Transcript::parse(&name, &text).and_then(|t| run_all_feeds(&t));
        match outcome {
            Ok(n) => runs += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} transcript(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    println!("{} transcripts, {runs} runs", entries.len());
}
