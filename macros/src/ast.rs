//! The namespace as the macro understands it: a small IR that borrows from syn and keeps the
//! original nodes for spans.

use syn::{
    FnArg, GenericArgument, ImplItem, ImplItemFn, ItemImpl, PatType, PathArguments, PathSegment,
    ReturnType, Type,
};

use crate::args::Args;
use crate::attr::{self, Marker};
use crate::ctxt::Ctxt;

/// The annotated impl block.
pub(crate) struct Namespace<'a> {
    pub(crate) original: &'a ItemImpl,
    pub(crate) args: Args,
    /// The methods that carry a helper attribute, in source order.
    pub(crate) methods: Vec<Method<'a>>,
}

/// A method with a helper attribute (`#[middleware]`, `#[on(..)]`, `#[on_connect]`, …).
pub(crate) struct Method<'a> {
    pub(crate) original: &'a ImplItemFn,
    pub(crate) marker: Marker<'a>,
    /// The `self` parameter, when the method has one.
    pub(crate) receiver: Option<&'a syn::Receiver>,
    /// The parameters after the receiver (all of them when there is none).
    pub(crate) params: Vec<Param<'a>>,
    pub(crate) output: Output<'a>,
}

/// One typed parameter of a marked method.
pub(crate) struct Param<'a> {
    pub(crate) original: &'a PatType,
    pub(crate) kind: ParamKind,
}

/// What a parameter's type looks like; recognised by syntax (last path segment).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamKind {
    /// `&Client<M>`.
    Client,
    /// `&Handshake`.
    Handshake,
    /// `&ConnectedClients<M>`.
    Clients,
    /// `&str`.
    Str,
    /// `&Relay`.
    Relay,
    /// `DisconnectReason`, by value.
    Reason,
    /// Any other type taken by value: a payload.
    Value,
    /// Any other reference (`&T`, `&mut Client<M>`, …).
    Reference,
    /// `impl Trait`.
    ImplTrait,
}

/// A marked method's return type.
pub(crate) enum Output<'a> {
    /// No return type, or `()`.
    Unit,
    /// A type whose last path segment is `Result`.
    Result(&'a Type),
    /// Any other type.
    Value(&'a Type),
}

impl<'a> Namespace<'a> {
    /// Builds the IR. Malformed helper attributes are recorded in `cx` and their methods left out.
    pub(crate) fn from_syn(cx: &Ctxt, args: Args, item: &'a ItemImpl) -> Self {
        let mut methods = Vec::new();
        for impl_item in &item.items {
            let ImplItem::Fn(method) = impl_item else {
                for helper in attr::attrs(impl_item).iter().filter(|a| attr::is_helper(a)) {
                    cx.error_spanned_by(helper, "this attribute goes on a method");
                }
                continue;
            };
            if let Some(marker) = attr::marker(cx, &method.attrs) {
                methods.push(Method::from_syn(method, marker));
            }
        }
        Namespace {
            original: item,
            args,
            methods,
        }
    }

    /// The `#[middleware]` method, if any (the first one; validation rejects others).
    pub(crate) fn middleware(&self) -> Option<&Method<'a>> {
        self.methods
            .iter()
            .find(|m| matches!(m.marker.role, attr::Role::Middleware))
    }
}

impl<'a> Method<'a> {
    fn from_syn(original: &'a ImplItemFn, marker: Marker<'a>) -> Self {
        let mut inputs = original.sig.inputs.iter().peekable();
        let receiver = match inputs.peek() {
            Some(FnArg::Receiver(receiver)) => {
                inputs.next();
                Some(receiver)
            }
            _ => None,
        };
        let params = inputs
            .filter_map(|input| match input {
                FnArg::Typed(typed) => Some(Param {
                    original: typed,
                    kind: ParamKind::of(&typed.ty),
                }),
                // A receiver after the first parameter: rustc rejects it.
                FnArg::Receiver(_) => None,
            })
            .collect();
        Method {
            original,
            marker,
            receiver,
            params,
            output: Output::of(&original.sig.output),
        }
    }

    /// The method's name.
    pub(crate) fn ident(&self) -> &'a syn::Ident {
        &self.original.sig.ident
    }

    /// The `X` of a middleware's `Result<SocketOk<X>, SocketNok>`.
    pub(crate) fn metadata(&self) -> Option<&'a Type> {
        let Output::Result(ty) = self.output else {
            return None;
        };
        let [ok, err] = type_args(last_segment(ty)?)?[..] else {
            return None;
        };
        if !is_named(err, "SocketNok") {
            return None;
        }
        let ok = last_segment(ok).filter(|segment| segment.ident == "SocketOk")?;
        match type_args(ok)?[..] {
            [metadata] => Some(metadata),
            _ => None,
        }
    }

    /// Whether one of the parameters is of `kind`.
    pub(crate) fn takes(&self, kind: ParamKind) -> bool {
        self.params.iter().any(|param| param.kind == kind)
    }

    /// The payload type of a listener, if it takes one.
    pub(crate) fn payload(&self) -> Option<&'a Type> {
        self.params
            .iter()
            .find(|param| param.kind == ParamKind::Value)
            .map(|param| &*param.original.ty)
    }
}

impl ParamKind {
    fn of(ty: &Type) -> Self {
        match ungroup(ty) {
            Type::Reference(reference) if reference.mutability.is_none() => {
                if is_named(&reference.elem, "Client") {
                    ParamKind::Client
                } else if is_named(&reference.elem, "ConnectedClients") {
                    ParamKind::Clients
                } else if is_named(&reference.elem, "Handshake") {
                    ParamKind::Handshake
                } else if is_named(&reference.elem, "str") {
                    ParamKind::Str
                } else if is_named(&reference.elem, "Relay") {
                    ParamKind::Relay
                } else {
                    ParamKind::Reference
                }
            }
            Type::Reference(_) => ParamKind::Reference,
            Type::ImplTrait(_) => ParamKind::ImplTrait,
            ty if is_named(ty, "DisconnectReason") => ParamKind::Reason,
            _ => ParamKind::Value,
        }
    }
}

impl<'a> Output<'a> {
    fn of(output: &'a ReturnType) -> Self {
        let ReturnType::Type(_, ty) = output else {
            return Output::Unit;
        };
        match ungroup(ty) {
            Type::Tuple(tuple) if tuple.elems.is_empty() => Output::Unit,
            inner if is_named(inner, "Result") => Output::Result(ty),
            _ => Output::Value(ty),
        }
    }
}

/// Looks through the invisible groups `macro_rules!` puts around `$ty` and through parentheses.
pub(crate) fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(group) => ungroup(&group.elem),
        Type::Paren(paren) => ungroup(&paren.elem),
        ty => ty,
    }
}

/// The last segment of a plain path type (`a::b::C<D>` → `C<D>`).
pub(crate) fn last_segment(ty: &Type) -> Option<&PathSegment> {
    match ungroup(ty) {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

/// Whether `ty` is a path type whose last segment is `name`.
pub(crate) fn is_named(ty: &Type, name: &str) -> bool {
    last_segment(ty).is_some_and(|segment| segment.ident == name)
}

/// The type arguments of `Name<A, B>`, ignoring lifetimes; `None` without angle brackets.
fn type_args(segment: &PathSegment) -> Option<Vec<&Type>> {
    let PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    Some(
        args.args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
    )
}
