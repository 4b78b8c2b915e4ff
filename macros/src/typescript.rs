//! `typescript = true`: the `NamespaceTypes` impl that describes the namespace's listeners (payload
//! and ack types) and server events to `tether::typescript::typings`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned as _;

use crate::ast::{Namespace, Output};
use crate::attr::Role;

/// The impl, or nothing without `typescript = true`.
pub(crate) fn namespace_types(ns: &Namespace<'_>, self_ty: &syn::Type) -> TokenStream {
    let args = &ns.args;
    if !args.typescript {
        return TokenStream::new();
    }
    let krate = &args.krate;
    let ts = quote!(#krate::typescript);
    let listeners = ns.methods.iter().filter_map(|method| {
        let Role::On(listen) = &method.marker.role else {
            return None;
        };
        let event = &listen.event;
        let payload = method.payload();
        let has_payload = payload.is_some();
        let payload = payload.map_or_else(|| quote!(()), ToTokens::to_token_stream);
        // Spanned at the types: a type without `TS` is reported on it.
        let (ack, has_ack) = match method.output {
            Output::Unit => (quote!(()), false),
            Output::Value(ty) => (ty.to_token_stream(), true),
            Output::Result(ty) => (
                quote_spanned!(ty.span()=> <#ty as #krate::__private::ResultOk>::Ok),
                true,
            ),
        };
        Some(quote! {
            typings.listener::<#payload, #ack>(#event, #has_payload, #has_ack);
        })
    });
    let events = args
        .events
        .as_ref()
        .map_or_else(|| quote!(#krate::AnyEvent), ToTokens::to_token_stream);
    quote! {
        #[automatically_derived]
        impl #ts::NamespaceTypes for #self_ty {
            fn describe(typings: &mut #ts::Typings) {
                #(#listeners)*
                <#events as #ts::EventTypes>::describe(typings);
            }
        }
    }
}
