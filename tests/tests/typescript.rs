//! Issue 14 (TypeScript types): the chat demo ships the socket.io-client typings generated from
//! its namespace (`examples/chat/web/chat.d.ts`, kept current by this test), and TypeScript
//! (`tsc --noEmit`, pinned in tests/js) accepts a client that uses them correctly and rejects
//! each misuse in one that does not.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository")
        .to_owned()
}

/// Runs `tsc --noEmit -p <project>` in tests/js; its exit status and output.
fn tsc(project: &str) -> (bool, String) {
    let js = repo().join("tests/js");
    tether_tests::guard_against_hangs();
    tether_tests::require_node_modules();
    let out = Command::new("node")
        .arg(js.join("node_modules/typescript/bin/tsc"))
        .args(["--noEmit", "--pretty", "false", "-p", project])
        .current_dir(&js)
        .output()
        .expect("run tsc (scripts/setup.sh installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_demo_ships_the_typings_of_its_namespace() {
    let path = repo().join("examples/chat/web/chat.d.ts");
    let generated = tether_examples::chat::typescript();
    if std::env::var_os("TETHER_WRITE_TYPINGS").is_some() {
        std::fs::write(&path, &generated).expect("write chat.d.ts");
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == generated,
        "{} is not what the namespace generates; regenerate it with \
         `TETHER_WRITE_TYPINGS=1 cargo test -p tether-tests --test typescript`",
        path.display()
    );
}

#[test]
fn tsc_accepts_a_client_that_uses_the_typings_and_rejects_each_misuse() {
    let (ok, out) = tsc("ts/tsconfig.good.json");
    assert!(ok, "tsc refused the correct client:\n{out}");

    let (ok, out) = tsc("ts/tsconfig.bad.json");
    assert!(!ok, "tsc accepted the misusing client");
    // Every line of bad.ts marked `// misuse:` is reported, and nothing else.
    let bad = std::fs::read_to_string(repo().join("tests/js/ts/bad.ts")).expect("bad.ts");
    let marked: Vec<usize> = bad
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains("// misuse:"))
        .map(|(i, _)| i + 1)
        .collect();
    let reported: std::collections::BTreeSet<usize> = out
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("ts/bad.ts(")?;
            rest.split(',').next()?.parse().ok()
        })
        .collect();
    assert_eq!(
        reported.into_iter().collect::<Vec<_>>(),
        marked,
        "the lines tsc reported in bad.ts are not the marked misuses:\n{out}"
    );
}
