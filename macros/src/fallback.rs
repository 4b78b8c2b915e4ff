//! What the attribute expands to when the input is wrong: the user's code, the errors, and a stub
//! `Namespace` impl, so the user sees the real mistakes and no follow-on noise.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::Item;

use crate::ast::Namespace;
use crate::attr;

/// The impl with its helper attributes stripped, the errors, and a stub `impl Namespace`.
pub(crate) fn expand(ns: &Namespace<'_>, error: syn::Error) -> TokenStream {
    let mut item = ns.original.clone();
    attr::strip(&mut item);
    let error = error.into_compile_error();

    // No stub where it would add errors: for a generic type its parameters are unbound, and a
    // `#[socket_namespace] impl Namespace for T` already is the impl.
    let is_namespace_impl = item.trait_.as_ref().is_some_and(|(_, path, _)| {
        path.segments
            .last()
            .is_some_and(|segment| segment.ident == "Namespace")
    });
    let stub = (item.generics.params.is_empty() && !is_namespace_impl).then(|| {
        let krate = &ns.args.krate;
        let self_ty = &item.self_ty;
        // The declared events, so code that emits them does not fail too.
        let events = ns
            .args
            .events
            .as_ref()
            .map_or_else(|| quote!(#krate::AnyEvent), ToTokens::to_token_stream);
        quote! {
            #[automatically_derived]
            impl #krate::Namespace for #self_ty {
                type Metadata = ();
                type Events = #events;
                const PATH: &'static str = "/";
                fn define(_: &mut #krate::NamespaceDef<Self>) {}
            }
        }
    });
    quote! {
        #item
        #error
        #stub
    }
}

/// The attribute is on something other than an impl block (`parsed` is `input` parsed as an
/// item): the input unchanged and an error on the item's name.
pub(crate) fn not_an_impl(input: TokenStream, parsed: syn::Result<Item>) -> TokenStream {
    const MESSAGE: &str =
        "`#[socket_namespace]` goes on an inherent `impl` block, e.g. `impl ChatSocket { .. }`";
    let error = match parsed {
        Ok(item) => syn::Error::new_spanned(head(&item), MESSAGE),
        Err(error) => error,
    };
    let mut output = input;
    output.extend(error.into_compile_error());
    output
}

/// The part of an item that names it (`struct Foo`, `fn foo`, …), where the error points.
fn head(item: &Item) -> TokenStream {
    match item {
        Item::Struct(item) => name(&item.struct_token, &item.ident),
        Item::Enum(item) => name(&item.enum_token, &item.ident),
        Item::Union(item) => name(&item.union_token, &item.ident),
        Item::Fn(item) => name(&item.sig.fn_token, &item.sig.ident),
        Item::Trait(item) => name(&item.trait_token, &item.ident),
        Item::Mod(item) => name(&item.mod_token, &item.ident),
        Item::Type(item) => name(&item.type_token, &item.ident),
        Item::Const(item) => name(&item.const_token, &item.ident),
        Item::Static(item) => name(&item.static_token, &item.ident),
        _ => item.to_token_stream(),
    }
}

fn name(keyword: &dyn ToTokens, ident: &syn::Ident) -> TokenStream {
    quote!(#keyword #ident)
}
