//! `rate = "5/s"` and `burst = 10`, on `#[socket_namespace(...)]` and on `#[on("event", ...)]`.

use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};
use syn::{LitInt, LitStr};

use crate::ctxt::Ctxt;

/// A rate as written: how many events per how many seconds, spanned at the literal.
pub(crate) struct Rate {
    events: u32,
    seconds: u64,
    span: proc_macro2::Span,
}

/// What `rate` accepts, for error messages.
pub(crate) const RATE_FORMAT: &str =
    "a string `\"<events>/<unit>\"` with unit `s`, `min` or `h`, e.g. `rate = \"5/s\"`";

/// Parses `"5/s"`, `"30/min"`, `"100/h"`; records an error on the literal otherwise.
pub(crate) fn parse_rate(cx: &Ctxt, lit: &LitStr) -> Option<Rate> {
    let value = lit.value();
    let parsed = value.split_once('/').and_then(|(events, unit)| {
        let events: u32 = events.trim().parse().ok().filter(|n| *n > 0)?;
        let seconds = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return None,
        };
        Some((events, seconds))
    });
    match parsed {
        Some((events, seconds)) => Some(Rate {
            events,
            seconds,
            span: lit.span(),
        }),
        None => {
            cx.error_spanned_by(lit, format_args!("expected {RATE_FORMAT}"));
            None
        }
    }
}

/// Parses `burst = 10` (at least 1).
pub(crate) fn parse_burst(cx: &Ctxt, lit: &LitInt) -> Option<Literal> {
    match lit.base10_parse::<u32>() {
        Ok(0) => {
            cx.error_spanned_by(lit, "`burst` must be at least 1");
            None
        }
        Ok(n) => {
            let mut burst = Literal::u32_unsuffixed(n);
            burst.set_span(lit.span());
            Some(burst)
        }
        Err(err) => {
            cx.syn_error(err);
            None
        }
    }
}

/// `RateLimit::new(events, Duration::from_secs(seconds))`, then `.burst(n)` when given.
pub(crate) fn rate_limit(krate: &syn::Path, rate: &Rate, burst: Option<&Literal>) -> TokenStream {
    let (events, seconds) = (
        Literal::u32_unsuffixed(rate.events),
        Literal::u64_unsuffixed(rate.seconds),
    );
    let burst = burst.map(|b| quote!(.burst(#b)));
    quote_spanned! {rate.span=>
        #krate::RateLimit::new(#events, ::core::time::Duration::from_secs(#seconds)) #burst
    }
}
