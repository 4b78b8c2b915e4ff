//! `#[derive(Events)]`: an enum whose variants are a namespace's server→client events.
//!
//! Same pipeline as the attribute: [`ast`] (IR and attributes) → [`valid`] → [`expand`], with a
//! stub on error so code that emits the events does not fail too.

mod ast;
mod expand;
mod valid;

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ctxt::Ctxt;

/// The whole derive: parse, validate, expand; on error, the errors and stub impls.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let events = ast::Events::from_syn(&cx, input);
    valid::check(&cx, &events);
    match cx.check() {
        Ok(()) => expand::events(&events),
        Err(error) => fallback(&events, error),
    }
}

/// The errors, and `Events` and `Serialize` impls that are never run.
fn fallback(events: &ast::Events<'_>, error: syn::Error) -> TokenStream {
    let error = error.into_compile_error();
    let input = events.original;
    if !input.generics.params.is_empty() {
        return error;
    }
    let krate = &events.krate;
    let ident = &input.ident;
    let private = quote!(#krate::__private);
    quote! {
        #error

        #[automatically_derived]
        impl #krate::Events for #ident {
            fn name(&self) -> &str {
                #private::core::unreachable!()
            }
        }

        #[automatically_derived]
        impl #private::serde::Serialize for #ident {
            fn serialize<__S>(&self, _: __S) -> #private::core::result::Result<__S::Ok, __S::Error>
            where
                __S: #private::serde::Serializer,
            {
                #private::core::unreachable!()
            }
        }
    }
}
