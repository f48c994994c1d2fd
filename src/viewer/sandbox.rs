//! Runs an exported head (a component of the world in `wit/head.wit`) in a
//! wasmtime sandbox.
//!
//! What the guest gets, all in [`Sandbox::new`]: **no imports** (an empty
//! `Linker`: no WASI, no host functions; a component that imports anything
//! is refused before it runs), **fuel** per call (an endless loop stops with
//! [`Error::OutOfFuel`]), a **memory cap** and instance/table limits (a
//! module asking for more is refused at instantiation, growth beyond the cap
//! fails), a bounded wasm stack, and a bounded file size. The artifact is
//! compiled from its bytes at load time; precompiled `.cwasm` is never
//! deserialised (that is unsafe on untrusted files).
//!
//! What the host copies out of the guest is bounded too: the task names and
//! the metadata's strings are read in place and refused past
//! [`MAX_STRING_BYTES`] each (a guest could otherwise return a list that
//! points at one huge string many times, and the host would allocate a
//! multiple of the guest's memory cap), and a weight list is copied only
//! if it holds K values.
//!
//! ```no_run
//! use meltr::viewer::{Limits, SandboxedHead};
//! let mut head = SandboxedHead::load("head.wasm".as_ref(), &Limits::default())?;
//! let e = head.evaluate(&vec![1.0; head.num_tasks()])?;
//! println!("f = {}, weights = {:?}", e.value, e.weights);
//! # Ok::<(), meltr::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::export::one_line;
use crate::meta_loss::Evaluation;
use std::path::Path;
use wasmtime::component::{Component, ComponentType, Instance, Lift, Linker, WasmList, WasmStr};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/head.wit",
        world: "head",
    });
}

pub use bindings::{InputError, Metadata};

/// The longest task name or metadata string the host copies out of a guest,
/// in bytes.
pub const MAX_STRING_BYTES: usize = 256;

/// The `metadata` record as the guest returns it, its strings still in the
/// guest's memory (read and bounded by [`SandboxedHead::read_metadata`]).
#[derive(ComponentType, Lift)]
#[component(record)]
struct GuestMetadata {
    format: WasmStr,
    preset: Option<WasmStr>,
    h1: u32,
    d: u32,
    f: u32,
    heads: u32,
    #[component(name = "num-tasks")]
    num_tasks: u32,
    primary: Option<u32>,
    steps: u64,
    seed: Option<u64>,
    exporter: WasmStr,
}

/// The `evaluation` record, its weights still in the guest's memory
/// (copied by [`SandboxedHead::copy_weights`] only if there are K).
#[derive(ComponentType, Lift)]
#[component(record)]
struct GuestEvaluation {
    value: f32,
    weights: WasmList<f32>,
}

/// The sandbox's limits. Defaults suit every preset with a wide margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (about one unit per wasm instruction) for one call. Default 2e9
    /// (a `paper`-size head with K = 16 needs about 5e7 per `evaluate`).
    pub fuel_per_call: u64,
    /// Cap on the guest's linear memory in bytes. Default 256 MiB.
    pub memory_bytes: usize,
    /// Largest artifact file accepted, in bytes. Default 64 MiB.
    pub max_file_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_call: 2_000_000_000,
            memory_bytes: 256 << 20,
            max_file_bytes: 64 << 20,
        }
    }
}

/// Host state of a store: only the limiter.
struct Host {
    limits: StoreLimits,
}

/// The engine, the compiled artifact and the (empty) linker: everything
/// needed to make a fresh instance after a trap.
struct Sandbox {
    engine: Engine,
    pre: bindings::HeadPre<Host>,
    limits: Limits,
}

impl Sandbox {
    /// Every capability and limit of the guest, in one place.
    fn new(bytes: &[u8], limits: Limits, origin: &str) -> Result<Sandbox> {
        let refuse = |reason: String| Error::BadArtifact {
            origin: origin.into(),
            reason,
        };
        if bytes.len() > limits.max_file_bytes {
            return Err(refuse(format!(
                "{} bytes is over the {}-byte limit",
                bytes.len(),
                limits.max_file_bytes
            )));
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(refuse("not a WebAssembly file (no `\\0asm` header)".into()));
        }
        if !wasmparser::Parser::is_component(bytes) {
            return Err(refuse(
                "a core WebAssembly module, expected a component (export with `meltr export`)"
                    .into(),
            ));
        }
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true) // every call gets `fuel_per_call`
            .max_wasm_stack(512 << 10) // deep recursion traps, never overflows the host
            .wasm_simd(true)
            .wasm_relaxed_simd(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| refuse(msg(&e)))?;
        // Compiled from bytes (validated); `.cwasm` deserialisation is never used.
        let component = Component::new(&engine, bytes).map_err(|e| refuse(msg(&e)))?;
        // No imports at all: name the first one if the artifact wants any.
        let ty = component.component_type();
        if let Some((name, _)) = ty.imports(&engine).next() {
            return Err(refuse(format!(
                "imports `{name}`; a head artifact must import nothing"
            )));
        }
        let linker: Linker<Host> = Linker::new(&engine); // empty: no WASI, no host functions
        let pre = linker
            .instantiate_pre(&component)
            .and_then(bindings::HeadPre::new)
            .map_err(|e| refuse(format!("does not implement `meltr:head/head`: {}", msg(&e))))?;
        Ok(Sandbox {
            engine,
            pre,
            limits,
        })
    }

    /// A fresh store (memory cap, one instance) and instance.
    fn instantiate(&self, origin: &str) -> Result<(Store<Host>, bindings::Head, Instance)> {
        let host = Host {
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .memories(1)
                .tables(4)
                .table_elements(1 << 16)
                .instances(8)
                .trap_on_grow_failure(false)
                .build(),
        };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| &mut h.limits);
        store
            .set_fuel(self.limits.fuel_per_call)
            .map_err(|e| Error::Backend(msg(&e)))?;
        let instance = self
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .map_err(|e| Error::BadArtifact {
                origin: origin.into(),
                reason: format!("cannot be instantiated within the limits: {}", msg(&e)),
            })?;
        let head = bindings::Head::new(&mut store, &instance).map_err(|e| Error::BadArtifact {
            origin: origin.into(),
            reason: msg(&e),
        })?;
        Ok((store, head, instance))
    }
}

/// An exported head, loaded in the sandbox, with its metadata read.
pub struct SandboxedHead {
    origin: String,
    sandbox: Sandbox,
    store: Store<Host>,
    head: bindings::Head,
    instance: Instance,
    metadata: Metadata,
    task_names: Vec<String>,
    core_module: Vec<u8>,
}

impl std::fmt::Debug for SandboxedHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxedHead")
            .field("origin", &self.origin)
            .field("metadata", &self.metadata)
            .field("task_names", &self.task_names)
            .finish()
    }
}

/// Copies a guest string read in place, if it is at most
/// [`MAX_STRING_BYTES`] long.
fn bounded(
    s: wasmtime::Result<std::borrow::Cow<'_, str>>,
    what: &str,
) -> std::result::Result<String, String> {
    let s = s.map_err(|e| format!("{what}: {}", msg(&e)))?;
    if s.len() > MAX_STRING_BYTES {
        return Err(format!(
            "{what} is {} bytes, over the {MAX_STRING_BYTES}-byte limit",
            s.len()
        ));
    }
    Ok(s.into_owned())
}

/// One line from a wasmtime error and its causes.
fn msg(e: &wasmtime::Error) -> String {
    one_line(&format!("{e:#}"))
}

impl SandboxedHead {
    /// Reads and loads the artifact at `path`.
    pub fn load(path: &Path, limits: &Limits) -> Result<SandboxedHead> {
        let len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if len > limits.max_file_bytes as u64 {
            return Err(Error::BadArtifact {
                origin: path.display().to_string(),
                reason: format!(
                    "{len} bytes is over the {}-byte limit",
                    limits.max_file_bytes
                ),
            });
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, limits, &path.display().to_string())
    }

    /// Loads an artifact from bytes; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], limits: &Limits, origin: &str) -> Result<SandboxedHead> {
        let sandbox = Sandbox::new(bytes, *limits, origin)?;
        let (store, head, instance) = sandbox.instantiate(origin)?;
        let mut h = SandboxedHead {
            origin: origin.into(),
            sandbox,
            store,
            head,
            instance,
            metadata: Metadata {
                format: String::new(),
                preset: None,
                h1: 0,
                d: 0,
                f: 0,
                heads: 0,
                num_tasks: 0,
                primary: None,
                steps: 0,
                seed: None,
                exporter: String::new(),
            },
            task_names: vec![],
            core_module: vec![],
        };
        let bad = |reason: String| Error::BadArtifact {
            origin: origin.into(),
            reason,
        };
        h.metadata = h.read_metadata()?;
        let k = h.metadata.num_tasks as usize;
        if h.metadata.format != crate::export::FORMAT {
            return Err(bad(format!(
                "interface version `{}`, this viewer reads `{}`",
                one_line(&h.metadata.format),
                crate::export::FORMAT
            )));
        }
        if !(1..=crate::meta_loss::MAX_TASKS).contains(&k) {
            return Err(bad(format!(
                "metadata says {k} tasks, expected 1 to {}",
                crate::meta_loss::MAX_TASKS
            )));
        }
        h.task_names = h.read_task_names(k)?;
        if let Some(p) = h.metadata.primary.filter(|&p| p as usize >= k) {
            return Err(bad(format!("primary task #{p} of {k}")));
        }
        h.core_module = super::core_module::extract(bytes, origin)?;
        Ok(h)
    }

    /// Refuses the artifact for `reason`.
    fn refuse(&self, reason: String) -> Error {
        Error::BadArtifact {
            origin: self.origin.clone(),
            reason,
        }
    }

    /// Calls `metadata`, copying out its strings only up to
    /// [`MAX_STRING_BYTES`] each.
    fn read_metadata(&mut self) -> Result<Metadata> {
        let f = self.typed::<(), (GuestMetadata,)>("metadata")?;
        let (m,) = self.call("metadata", |_, s| f.call(s, ()))?;
        let text = |s: &WasmStr, what: &str| {
            bounded(s.to_str(&self.store), what).map_err(|r| self.refuse(r))
        };
        Ok(Metadata {
            format: text(&m.format, "metadata `format`")?,
            preset: m
                .preset
                .as_ref()
                .map(|p| text(p, "metadata `preset`"))
                .transpose()?,
            h1: m.h1,
            d: m.d,
            f: m.f,
            heads: m.heads,
            num_tasks: m.num_tasks,
            primary: m.primary,
            steps: m.steps,
            seed: m.seed,
            exporter: text(&m.exporter, "metadata `exporter`")?,
        })
    }

    /// Calls `task-names`, checking the count against `k` before reading
    /// any name and each name's length before copying it.
    fn read_task_names(&mut self, k: usize) -> Result<Vec<String>> {
        let f = self.typed::<(), (WasmList<WasmStr>,)>("task-names")?;
        let (list,) = self.call("task-names", |_, s| f.call(s, ()))?;
        if list.len() != k {
            return Err(self.refuse(format!("{} task names for {k} tasks", list.len())));
        }
        let mut names = Vec::with_capacity(k);
        for i in 0..k {
            let s = list
                .get(&mut self.store, i)
                .expect("i < len")
                .map_err(|e| self.refuse(msg(&e)))?;
            let name = bounded(s.to_str(&self.store), &format!("task name #{i}"))
                .map_err(|r| self.refuse(r))?;
            names.push(name);
        }
        Ok(names)
    }

    /// Calls into the guest with a full fuel tank; after a trap the
    /// instance is replaced by a fresh one (a trapped instance cannot be
    /// entered again).
    fn call<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&bindings::Head, &mut Store<Host>) -> wasmtime::Result<T>,
    ) -> Result<T> {
        let fuel = self.sandbox.limits.fuel_per_call;
        self.store
            .set_fuel(fuel)
            .map_err(|e| Error::Backend(msg(&e)))?;
        match f(&self.head, &mut self.store) {
            Ok(v) => Ok(v),
            Err(e) => {
                let out_of_fuel = matches!(e.downcast_ref::<Trap>(), Some(Trap::OutOfFuel));
                let (store, head, instance) = self.sandbox.instantiate(&self.origin)?;
                self.store = store;
                self.head = head;
                self.instance = instance;
                Err(if out_of_fuel {
                    Error::OutOfFuel {
                        origin: self.origin.clone(),
                        call: name.into(),
                        fuel,
                    }
                } else {
                    Error::ArtifactTrap {
                        origin: self.origin.clone(),
                        call: name.into(),
                        reason: msg(&e),
                    }
                })
            }
        }
    }

    /// Maps the guest's refusal of an input to the crate's errors.
    fn input_error(e: InputError) -> Error {
        match e {
            InputError::WrongLength(m) => Error::Length {
                what: "losses".into(),
                expected: m.expected as usize,
                found: m.found as usize,
            },
            InputError::NonFinite(i) => Error::NonFinite {
                what: "losses".into(),
                index: i as usize,
                value: f32::NAN,
            },
        }
    }

    /// Checks `losses` on the host first (so that nothing huge is copied in),
    /// with the same contract as the guest.
    fn check(&self, losses: &[f32]) -> Result<()> {
        crate::error::check_finite("losses", losses, self.num_tasks())
    }

    /// `f(l)`.
    pub fn eval(&mut self, losses: &[f32]) -> Result<f32> {
        self.check(losses)?;
        self.call("eval", |h, s| h.call_eval(s, losses))?
            .map_err(Self::input_error)
    }

    /// Calls `eval` without the host's own input check and returns the
    /// guest's verdict as the WIT contract states it: for testing that an
    /// artifact itself refuses wrong lengths and non-finite values.
    pub fn eval_unchecked(
        &mut self,
        losses: &[f32],
    ) -> Result<std::result::Result<f32, InputError>> {
        self.call("eval", |h, s| h.call_eval(s, losses))
    }

    /// `∂f/∂l`, the per-task weights.
    pub fn weights(&mut self, losses: &[f32]) -> Result<Vec<f32>> {
        self.check(losses)?;
        let f =
            self.typed::<(&[f32],), (std::result::Result<WasmList<f32>, InputError>,)>("weights")?;
        let (w,) = self.call("weights", |_, s| f.call(s, (losses,)))?;
        self.copy_weights("weights", &w.map_err(Self::input_error)?)
    }

    /// Value and per-task weights.
    pub fn evaluate(&mut self, losses: &[f32]) -> Result<Evaluation> {
        self.check(losses)?;
        let f = self
            .typed::<(&[f32],), (std::result::Result<GuestEvaluation, InputError>,)>("evaluate")?;
        let (e,) = self.call("evaluate", |_, s| f.call(s, (losses,)))?;
        let e = e.map_err(Self::input_error)?;
        Ok(Evaluation {
            value: e.value,
            weights: self.copy_weights("evaluate", &e.weights)?,
        })
    }

    /// The export `name`, typed with values that stay in the guest's memory
    /// until the host decides to copy them.
    fn typed<P, R>(&mut self, name: &str) -> Result<wasmtime::component::TypedFunc<P, R>>
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
        R: wasmtime::component::ComponentNamedList + Lift,
    {
        self.instance
            .get_typed_func::<P, R>(&mut self.store, name)
            .map_err(|e| self.refuse(msg(&e)))
    }

    /// Copies a returned weight list out of the guest, only if it holds K
    /// values.
    fn copy_weights(&mut self, call: &str, list: &WasmList<f32>) -> Result<Vec<f32>> {
        self.check_len(call, list.len())?;
        let trap = |e: wasmtime::Error| Error::ArtifactTrap {
            origin: self.origin.clone(),
            call: call.into(),
            reason: msg(&e),
        };
        let items = list.iter(&mut self.store).map_err(trap)?;
        items.collect::<wasmtime::Result<Vec<f32>>>().map_err(trap)
    }

    fn check_len(&self, call: &str, n: usize) -> Result<()> {
        if n == self.num_tasks() {
            Ok(())
        } else {
            Err(Error::ArtifactTrap {
                origin: self.origin.clone(),
                call: call.into(),
                reason: format!("returned {n} weights for {} tasks", self.num_tasks()),
            })
        }
    }

    /// K, the number of losses the head takes.
    pub fn num_tasks(&self) -> usize {
        self.metadata.num_tasks as usize
    }

    /// The task names, in input order.
    pub fn task_names(&self) -> &[String] {
        &self.task_names
    }

    /// The artifact's metadata record.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The artifact's core module (the exporter's generated code), which
    /// the live page runs in a browser.
    pub fn core_module(&self) -> &[u8] {
        &self.core_module
    }

    /// Where the artifact came from (its path, or the name given).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Fuel the last call used.
    pub fn fuel_used_last_call(&self) -> u64 {
        self.sandbox.limits.fuel_per_call - self.store.get_fuel().unwrap_or(0)
    }
}
