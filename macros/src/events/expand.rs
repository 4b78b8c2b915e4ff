//! The `Events` and `Serialize` impls of a valid enum. `Serialize` produces the payload only;
//! `Events::name` gives the event name.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;

use crate::events::ast::Events;

pub(crate) fn events(events: &Events<'_>) -> TokenStream {
    let krate = &events.krate;
    let private = quote!(#krate::__private);
    let ident = &events.original.ident;

    let names = events.variants.iter().map(|variant| {
        let (variant_ident, name) = (variant.ident, &variant.name);
        let fields = variant.payload.map(|_| quote!((..)));
        quote!(Self::#variant_ident #fields => #name,)
    });
    let serialize = events.variants.iter().map(|variant| {
        let variant_ident = variant.ident;
        if let Some(ty) = variant.payload {
            // `<Payload as Serialize>`: the bound is on the user's type, where the check below
            // already reports a missing `Serialize`; rustc then reports it once.
            quote! {
                Self::#variant_ident(payload) => {
                    <#ty as #private::serde::Serialize>::serialize(payload, serializer)
                }
            }
        } else {
            quote! {
                Self::#variant_ident => #private::serde::Serializer::serialize_unit(serializer),
            }
        }
    });
    // On the user's type: a payload that is not `Serialize` is reported there.
    let checks = events.variants.iter().filter_map(|variant| {
        let ty = variant.payload?;
        Some(quote_spanned!(ty.span()=> #private::assert_event_payload::<#ty>();))
    });
    // An enum without variants has no value: `match *self {}`.
    let (scrutinee, serializer) = if events.variants.is_empty() {
        (quote!(*self), quote!(_))
    } else {
        (quote!(self), quote!(serializer))
    };

    let typescript = events.typescript.then(|| {
        let described = events.variants.iter().map(|variant| {
            let name = &variant.name;
            match variant.payload {
                Some(ty) => quote!(typings.server_event::<#ty>(#name);),
                None => quote!(typings.server_event_unit(#name);),
            }
        });
        quote! {
            #[automatically_derived]
            impl #krate::typescript::EventTypes for #ident {
                fn describe(typings: &mut #krate::typescript::Typings) {
                    #(#described)*
                }
            }
        }
    });

    quote! {
        #typescript

        #[automatically_derived]
        impl #krate::Events for #ident {
            fn name(&self) -> &'static str {
                match #scrutinee {
                    #(#names)*
                }
            }
        }

        #[automatically_derived]
        impl #private::serde::Serialize for #ident {
            fn serialize<__S>(
                &self,
                #serializer: __S,
            ) -> #private::core::result::Result<__S::Ok, __S::Error>
            where
                __S: #private::serde::Serializer,
            {
                #(#checks)*
                match #scrutinee {
                    #(#serialize)*
                }
            }
        }
    }
}
