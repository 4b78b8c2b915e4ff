//! Expansion and error tests on token streams. The ui-tests crate checks the same through rustc.

mod args;
mod errors;
mod events;
mod expand;

use proc_macro2::{TokenStream, TokenTree};

use crate::expand::socket_namespace;

pub(super) fn run(args: &str, item: &str) -> TokenStream {
    socket_namespace(args.parse().unwrap(), item.parse().unwrap())
}

/// The expansion as a string, with the errors; asserting on `quote!` output keeps spacing right.
pub(super) fn expansion(args: &str, item: &str) -> String {
    run(args, item).to_string()
}

pub(super) fn assert_contains(haystack: &str, needle: &TokenStream) {
    let needle = needle.to_string();
    assert!(
        haystack.contains(&needle),
        "expected\n  {needle}\nin\n  {haystack}"
    );
}

/// Every `compile_error!` of the expansion: its message and the source text it points at
/// (`<call site>` for the attribute itself).
pub(super) fn errors(args: &str, item: &str) -> Vec<(String, String)> {
    errors_in(run(args, item))
}

/// Every `compile_error!` of `output`, as in [`errors`].
pub(super) fn errors_in(output: TokenStream) -> Vec<(String, String)> {
    let tokens: Vec<TokenTree> = output.into_iter().collect();
    let mut found = Vec::new();
    for (i, window) in tokens.windows(3).enumerate() {
        let [
            TokenTree::Ident(ident),
            TokenTree::Punct(bang),
            TokenTree::Group(group),
        ] = window
        else {
            continue;
        };
        if ident != "compile_error" || bang.as_char() != '!' {
            continue;
        }
        let message = syn::parse2::<syn::LitStr>(group.stream()).unwrap().value();
        // `to_compile_error` spans the path (`::core::compile_error`) at the error's start and
        // the braces at its end.
        let start = tokens[i - 4].span();
        let text = start
            .join(group.span())
            .and_then(|span| span.source_text())
            .unwrap_or_else(|| "<call site>".to_owned());
        found.push((message, text));
    }
    found
}

/// Asserts the expansion reports exactly `expected` (message, pointed-at source text).
#[track_caller]
pub(super) fn assert_errors(args: &str, item: &str, expected: &[(&str, &str)]) {
    let found = errors(args, item);
    let found: Vec<(&str, &str)> = found
        .iter()
        .map(|(m, t)| (m.as_str(), t.as_str()))
        .collect();
    assert_eq!(found, expected);
}
