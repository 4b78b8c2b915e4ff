//! Durations written as strings in `#[socket_namespace(...)]`: a recovery window, a presence
//! grace.

use proc_macro2::Literal;
use syn::LitStr;

use crate::ctxt::Ctxt;

/// Splits `"90s"` into its number and unit.
fn split(lit: &LitStr) -> Option<(u64, String)> {
    let value = lit.value();
    let value = value.trim();
    let at = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (n, unit) = value.split_at(at);
    Some((n.parse().ok()?, unit.trim().to_owned()))
}

/// Parses a recovery window, `"90s"`, `"2min"` or `"1h"`, into seconds (at least one).
pub(crate) fn parse_window(cx: &Ctxt, lit: &LitStr) -> Option<Literal> {
    let scale = |unit: &str| match unit {
        "s" | "sec" => Some(1),
        "min" => Some(60),
        "h" => Some(3600),
        _ => None,
    };
    match split(lit).and_then(|(n, unit)| Some(n.saturating_mul(scale(&unit)?))) {
        Some(secs) if secs > 0 => {
            let mut secs = Literal::u64_unsuffixed(secs);
            secs.set_span(lit.span());
            Some(secs)
        }
        _ => {
            cx.error_spanned_by(
                lit,
                "expected a recovery window such as `\"90s\"`, `\"2min\"` or `\"1h\"` (or `true` for the default, two minutes)",
            );
            None
        }
    }
}

/// Parses a presence grace, `"500ms"`, `"5s"` or `"1min"`, into milliseconds (zero allowed:
/// departures count at once).
pub(crate) fn parse_grace(cx: &Ctxt, lit: &LitStr) -> Option<Literal> {
    let scale = |unit: &str| match unit {
        "ms" => Some(1),
        "s" | "sec" => Some(1000),
        "min" => Some(60_000),
        _ => None,
    };
    match split(lit).and_then(|(n, unit)| Some(n.saturating_mul(scale(&unit)?))) {
        Some(ms) => {
            let mut ms = Literal::u64_unsuffixed(ms);
            ms.set_span(lit.span());
            Some(ms)
        }
        None => {
            cx.error_spanned_by(
                lit,
                "expected a presence grace such as `\"500ms\"`, `\"5s\"` or `\"1min\"` (or `true` for the builder's, five seconds by default)",
            );
            None
        }
    }
}
