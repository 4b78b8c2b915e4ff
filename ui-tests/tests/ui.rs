//! Compile-fail and compile-pass tests of `#[socket_namespace]`: one small file per mistake, each
//! with the `.stderr` rustc must print. Regenerate with `TRYBUILD=overwrite cargo test -p
//! tether-ui-tests` and review the diff like code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/fail/*.rs");
    t.pass("tests/pass/*.rs");
}
