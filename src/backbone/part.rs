//! Model parts, open to any crate: a [`Part`] is a type that names one
//! output of a backbone (its arguments and its result); a task asks its
//! net for a part by type (`net.part::<ClassLogits>(visual)`), and a net
//! serves the parts it has from [`super::Net::provide`]. A crate can define
//! a part of its own and a backbone of its own (or of another crate) can
//! serve it; the core lists no parts beyond the built-in ones
//! ([`super::parts`]).
//!
//! A request travels through one object-safe call: its arguments as
//! `&dyn Any` references, its answer as an `Option` slot behind
//! `&mut dyn Any`, both matched by the part's [`TypeId`].

use super::AnyTape;
use crate::error::Result;
use std::any::{Any, TypeId};

/// One output of a backbone, named by its type; see the module docs.
///
/// ```
/// use meltr::backbone::{AnyTape, Feats, Part, Visual};
/// /// Pooled visual features projected for a contrastive loss.
/// pub struct Projection;
/// impl Part for Projection {
///     const NAME: &'static str = "projection";
///     type Args = Visual;
///     type Output<T: AnyTape> = Feats<T>;
/// }
/// ```
pub trait Part: 'static {
    /// The name errors and listings use (`task \`x\` needs the backbone's \`NAME\``).
    const NAME: &'static str;
    /// What the part reads: one type, or a tuple of two or three, each
    /// passed by reference.
    type Args: PartArgs;
    /// What it gives, on the tape `T` of the pass.
    type Output<T: AnyTape>: 'static;
}

/// A part's identity: its name and its type.
#[derive(Debug, Clone, Copy)]
pub struct PartId {
    /// [`Part::NAME`].
    pub name: &'static str,
    type_id: TypeId,
}

impl PartId {
    /// The identity of part `P`.
    pub fn of<P: Part>() -> PartId {
        PartId {
            name: P::NAME,
            type_id: TypeId::of::<P>(),
        }
    }

    /// Whether this is part `P`.
    pub fn is<P: Part>(&self) -> bool {
        self.type_id == TypeId::of::<P>()
    }
}

impl PartialEq for PartId {
    fn eq(&self, other: &PartId) -> bool {
        self.type_id == other.type_id
    }
}

impl Eq for PartId {}

impl std::fmt::Display for PartId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// A list of parts as a tuple type, `(VisualFeatures, ClassLogits)`: what
/// a task needs ([`crate::aux_task::Task::Needs`]).
pub trait PartList {
    /// The parts' identities, in order.
    fn ids() -> Vec<PartId>;
}

macro_rules! part_list {
    ($($p:ident),*) => {
        impl<$($p: Part),*> PartList for ($($p,)*) {
            fn ids() -> Vec<PartId> {
                vec![$(PartId::of::<$p>()),*]
            }
        }
    };
}
part_list!();
part_list!(A);
part_list!(A, B);
part_list!(A, B, C);
part_list!(A, B, C, D);

/// A part's arguments: a single type, or a tuple of two or three. Each
/// argument is passed as a reference (`&Visual`, `(&Text, &Visual,
/// &Vec<usize>)`).
pub trait PartArgs: 'static {
    /// The references a caller passes.
    type Refs<'a>;
    /// The references as `&dyn Any`, in order.
    fn erase<'a>(refs: &Self::Refs<'a>) -> Vec<&'a dyn Any>;
    /// The references back, or `None` if the types differ.
    fn restore<'a>(erased: &[&'a dyn Any]) -> Option<Self::Refs<'a>>;
}

macro_rules! single_args {
    ($($t:ty),*) => {$(
        impl PartArgs for $t {
            type Refs<'a> = &'a $t;
            fn erase<'a>(refs: &Self::Refs<'a>) -> Vec<&'a dyn Any> {
                vec![*refs]
            }
            fn restore<'a>(erased: &[&'a dyn Any]) -> Option<Self::Refs<'a>> {
                erased.first()?.downcast_ref()
            }
        }
    )*};
}
single_args!(super::Visual, super::Text);

impl<A: 'static, B: 'static> PartArgs for (A, B) {
    type Refs<'a> = (&'a A, &'a B);
    fn erase<'a>(r: &Self::Refs<'a>) -> Vec<&'a dyn Any> {
        vec![r.0, r.1]
    }
    fn restore<'a>(e: &[&'a dyn Any]) -> Option<Self::Refs<'a>> {
        Some((e.first()?.downcast_ref()?, e.get(1)?.downcast_ref()?))
    }
}

impl<A: 'static, B: 'static, C: 'static> PartArgs for (A, B, C) {
    type Refs<'a> = (&'a A, &'a B, &'a C);
    fn erase<'a>(r: &Self::Refs<'a>) -> Vec<&'a dyn Any> {
        vec![r.0, r.1, r.2]
    }
    fn restore<'a>(e: &[&'a dyn Any]) -> Option<Self::Refs<'a>> {
        Some((
            e.first()?.downcast_ref()?,
            e.get(1)?.downcast_ref()?,
            e.get(2)?.downcast_ref()?,
        ))
    }
}

/// The answer slot of a request for part `P` on tape `T`.
type Slot<P, T> = Option<Result<<P as Part>::Output<T>>>;

/// A request for one part, handed to [`super::Net::provide`]; the net
/// answers it with [`Request::serve`] for each part it has. A census
/// request (for [`super::Backbone::provides`]) only records the parts
/// served.
pub struct Request<'r, T> {
    kind: Kind<'r>,
    _tape: std::marker::PhantomData<T>,
}

enum Kind<'r> {
    Call {
        part: TypeId,
        args: Vec<&'r dyn Any>,
        answer: &'r mut dyn Any,
    },
    Census(Vec<PartId>),
}

impl<'r, T: AnyTape> Request<'r, T> {
    /// A request for part `P` with these arguments.
    pub(super) fn call<'a: 'r, P: Part>(
        args: &<P::Args as PartArgs>::Refs<'a>,
        answer: &'r mut Slot<P, T>,
    ) -> Self {
        Request {
            kind: Kind::Call {
                part: TypeId::of::<P>(),
                args: P::Args::erase(args),
                answer,
            },
            _tape: std::marker::PhantomData,
        }
    }

    /// A request that lists every part served.
    pub(super) fn census() -> Self {
        Request {
            kind: Kind::Census(Vec::new()),
            _tape: std::marker::PhantomData,
        }
    }

    /// The parts a census request saw served.
    pub(super) fn served(self) -> Vec<PartId> {
        match self.kind {
            Kind::Census(v) => v,
            Kind::Call { .. } => Vec::new(),
        }
    }

    /// Answers the request with `f` if it asks for part `P`.
    pub fn serve<P: Part>(
        &mut self,
        f: impl FnOnce(<P::Args as PartArgs>::Refs<'r>) -> Result<P::Output<T>>,
    ) -> &mut Self {
        match &mut self.kind {
            Kind::Census(v) => v.push(PartId::of::<P>()),
            Kind::Call { part, args, answer } if *part == TypeId::of::<P>() => {
                if let (Some(a), Some(slot)) =
                    (P::Args::restore(args), answer.downcast_mut::<Slot<P, T>>())
                {
                    *slot = Some(f(a));
                }
            }
            Kind::Call { .. } => {}
        }
        self
    }
}
