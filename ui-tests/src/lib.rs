//! Compile tests of tether's macros, `#[socket_namespace]` and `#[derive(Events)]`; they live in
//! `tests/`:
//!
//! - `tests/ui.rs` runs trybuild on `tests/fail/*.rs` (one mistake per file, each with the
//!   `.stderr` rustc must print) and `tests/pass/*.rs` (what must compile, warning-free);
//! - `tests/clippy_pedantic.rs` is compiled by `cargo clippy --all-targets`, which trybuild's
//!   files are not: it includes `tests/pass/pedantic.rs` as a module, whose expansion must be
//!   clean under `clippy::pedantic`.
