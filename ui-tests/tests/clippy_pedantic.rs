//! Built by `cargo clippy --all-targets`, unlike trybuild's files: the expansion must add no
//! warning under `clippy::pedantic`. The code is trybuild's `tests/pass/pedantic.rs`, included
//! as a module, so rustc (through trybuild) and clippy (here) check the same file.

#![deny(warnings, clippy::pedantic)]

#[path = "pass/pedantic.rs"]
mod pedantic;

#[test]
fn generated_code_is_lint_clean() {
    pedantic::main();
}
