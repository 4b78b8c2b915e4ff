//! Checks a derived `Events` enum: concrete, with unique and allowed event names.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::ctxt::Ctxt;
use crate::events::ast::Events;
use crate::valid::event_name_problem;

/// Records every problem of `events` in `cx`.
pub(crate) fn check(cx: &Ctxt, events: &Events<'_>) {
    let generics = &events.original.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            generics,
            "`#[derive(Events)]` does not support generic enums: a namespace's events are one \
             concrete type",
        );
    }
    let mut seen = HashMap::new();
    for variant in &events.variants {
        let name = variant.name.value();
        if let Some(problem) = event_name_problem(&name) {
            cx.error_at(variant.name.span(), problem);
            continue;
        }
        match seen.entry(name) {
            Entry::Vacant(vacant) => {
                vacant.insert(variant.ident);
            }
            Entry::Occupied(first) => cx.error_at(
                variant.name.span(),
                format_args!(
                    "duplicate event `{}`: the variant `{}` already has this name",
                    first.key(),
                    first.get()
                ),
            ),
        }
    }
}
