//! Configured instances of one plugin for one view field. A call takes an
//! idle instance, or makes one while the pool holds fewer than its cap, or
//! waits (up to the call deadline) for one to come back: a busy pool slows a
//! batch down, it never fails it as a trap. A trapped instance is thrown
//! away; old ones are retired (Wasm memory never shrinks).

use super::{
    Answer, Batch, EPOCH_TICK, Output, Plugin, PluginConfig, PluginError, PluginState, Pre,
    Refused, STDERR_CAPTURE, v1, v2,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimitsBuilder};
use wasmtime_wasi::p2::OutputStream;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// What a plugin may see beyond the contract, when a view's config grants
/// it: environment variables, and host directories, read-only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub env: Vec<(String, String)>,
    /// (host directory, the path the plugin sees it at).
    pub dirs: Vec<(std::path::PathBuf, String)>,
}

struct Instance {
    store: Store<PluginState>,
    bindings: Bindings,
    calls: u64,
}

/// An instance's exports, under the contract its component implements.
enum Bindings {
    V1(v1::Transformer),
    V2(v2::Transformer),
}

impl Bindings {
    fn configure(
        &self,
        store: &mut Store<PluginState>,
        config: &PluginConfig,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Bindings::V1(t) => v1::configure(t, store, config),
            Bindings::V2(t) => v2::configure(t, store, config),
        }
    }

    fn transform(&self, store: &mut Store<PluginState>, batch: Batch) -> wasmtime::Result<Answer> {
        match self {
            Bindings::V1(t) => v1::transform(t, store, batch),
            Bindings::V2(t) => v2::transform(t, store, batch),
        }
    }
}

/// Idle instances, how many are out on a call, and how many calls wait for one.
#[derive(Default)]
struct Slots {
    idle: Vec<Instance>,
    busy: usize,
    waiting: usize,
}

pub struct InstancePool {
    plugin: Arc<Plugin>,
    view: String,
    config: PluginConfig,
    grants: Grants,
    slots: Mutex<Slots>,
    /// Signalled when an instance comes back (or its slot frees up).
    freed: Condvar,
    created: AtomicU64,
    calls: AtomicU64,
    traps: AtomicU64,
    /// Time inside `transform` calls, in microseconds.
    busy_micros: AtomicU64,
}

/// What a pool has done so far, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    pub calls: u64,
    pub traps: u64,
    pub busy: std::time::Duration,
}

impl std::ops::AddAssign for PoolStats {
    fn add_assign(&mut self, o: PoolStats) {
        self.calls += o.calls;
        self.traps += o.traps;
        self.busy += o.busy;
    }
}

impl InstancePool {
    /// A pool for `view`, with one instance configured now so that bad
    /// options fail at start-up, not mid-publish.
    pub(super) fn new(
        plugin: Arc<Plugin>,
        view: &str,
        config: PluginConfig,
        grants: Grants,
    ) -> Result<Self, PluginError> {
        let pool = InstancePool {
            plugin,
            view: view.into(),
            config,
            grants,
            slots: Mutex::default(),
            freed: Condvar::new(),
            created: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            busy_micros: AtomicU64::new(0),
        };
        let first = pool.instantiate()?;
        pool.lock().idle.push(first);
        Ok(pool)
    }

    pub fn plugin_name(&self) -> &str {
        &self.plugin.name
    }

    /// Instances made so far (the first, replacements after traps, recycling).
    pub fn instances_created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }

    /// `transform` calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            calls: self.calls(),
            traps: self.traps.load(Ordering::Relaxed),
            busy: std::time::Duration::from_micros(self.busy_micros.load(Ordering::Relaxed)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run one batch. The instance is returned to the pool unless it trapped.
    pub fn transform(&self, batch: Batch) -> Result<Output, PluginError> {
        let mut inst = self.checkout()?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        self.arm_deadline(&mut inst.store, started);
        let answer = inst.bindings.transform(&mut inst.store, batch);
        let took = started.elapsed().as_micros() as u64;
        self.busy_micros.fetch_add(took, Ordering::Relaxed);
        let (plugin, view) = (|| self.plugin.name.clone(), || self.view.clone());
        let out = match answer {
            Err(e) => {
                self.traps.fetch_add(1, Ordering::Relaxed);
                let trap = self.trap(&inst.store, e);
                self.checkin(None);
                return Err(trap);
            }
            Ok(Err(Refused::BadOutput(message))) => Err(PluginError::BadOutput {
                plugin: plugin(),
                view: view(),
                message,
            }),
            Ok(Err(Refused::Batch { kind, message })) => Err(PluginError::Batch {
                plugin: plugin(),
                view: view(),
                kind,
                message,
            }),
            Ok(Ok(out)) => Ok(out),
        };
        inst.calls += 1;
        // Wasm memory never shrinks and the stderr pipe fills: retire old instances.
        let limits = &self.plugin.engine.limits;
        let keep = inst.calls < limits.recycle_after_calls
            && captured(&inst.store.data().stderr) < STDERR_CAPTURE / 2;
        self.checkin(keep.then_some(inst));
        out
    }

    /// An idle instance, a new one while under the cap, or the first to come
    /// back within the call deadline.
    fn checkout(&self) -> Result<Instance, PluginError> {
        let limits = &self.plugin.engine.limits;
        let mut give_up = None;
        let mut slots = self.lock();
        loop {
            if let Some(inst) = slots.idle.pop() {
                slots.busy += 1;
                return Ok(inst);
            }
            if slots.busy + slots.idle.len() < limits.instances_per_pool {
                slots.busy += 1;
                drop(slots);
                return self.instantiate().inspect_err(|_| self.checkin(None));
            }
            let give_up = *give_up.get_or_insert_with(|| Instant::now() + limits.call_timeout);
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PluginError::Busy {
                    plugin: self.plugin.name.clone(),
                    view: self.view.clone(),
                    instances: limits.instances_per_pool,
                    waited: limits.call_timeout,
                });
            }
            slots.waiting += 1;
            slots = (self.freed.wait_timeout(slots, left))
                .unwrap_or_else(|p| p.into_inner())
                .0;
            slots.waiting -= 1;
        }
    }

    /// Give a slot back, with its instance unless it is to be dropped.
    fn checkin(&self, inst: Option<Instance>) {
        let mut slots = self.lock();
        slots.busy -= 1;
        slots.idle.extend(inst);
        // std's condvar makes a futex call on every notify, waiter or not:
        // a fifth of a one-row call, when nothing waits.
        let wake = slots.waiting > 0;
        drop(slots);
        if wake {
            self.freed.notify_one();
        }
    }

    fn instantiate(&self) -> Result<Instance, PluginError> {
        self.created.fetch_add(1, Ordering::Relaxed);
        let p = &self.plugin;
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        // No preopens, environment, network or inherited stdio unless the
        // view grants them: the sandbox gives nothing the contract does not need.
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stderr.clone()).stderr(stderr.clone());
        for (k, v) in &self.grants.env {
            wasi.env(k, v);
        }
        for (host, guest) in &self.grants.dirs {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|e| PluginError::Configure {
                    plugin: p.name.clone(),
                    view: self.view.clone(),
                    message: format!("granted directory {}: {e}", host.display()),
                })?;
        }
        let state = PluginState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(p.engine.limits.memory_bytes)
                .build(),
            stderr,
            plugin: p.name.clone(),
            view: self.view.clone(),
            embed: p.engine.embed.clone(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            deadline: Instant::now(),
        };
        let mut store = Store::new(&p.engine.engine, state);
        store.limiter(|s| &mut s.limits);
        self.arm_deadline(&mut store, Instant::now());
        let bindings = match &p.pre {
            Pre::V1(pre) => pre.instantiate(&mut store).map(Bindings::V1),
            Pre::V2(pre) => pre.instantiate(&mut store).map(Bindings::V2),
        }
        .map_err(|e| self.trap(&store, e))?;
        match bindings.configure(&mut store, &self.config) {
            Ok(Ok(())) => Ok(Instance {
                store,
                bindings,
                calls: 0,
            }),
            Ok(Err(message)) => Err(PluginError::Configure {
                plugin: p.name.clone(),
                view: self.view.clone(),
                message,
            }),
            Err(e) => Err(self.trap(&store, e)),
        }
    }

    fn arm_deadline(&self, store: &mut Store<PluginState>, now: Instant) {
        let timeout = self.plugin.engine.limits.call_timeout;
        let ticks = timeout.as_millis() / EPOCH_TICK.as_millis();
        store.set_epoch_deadline(ticks.max(1) as u64);
        store.data_mut().deadline = now + timeout;
    }

    fn trap(&self, store: &Store<PluginState>, e: wasmtime::Error) -> PluginError {
        let captured = store.data().stderr.contents();
        let tail = String::from_utf8_lossy(&captured[captured.len().saturating_sub(2048)..]);
        let stderr = if tail.trim().is_empty() {
            String::new()
        } else {
            format!("\nplugin stderr:\n{}", tail.trim_end())
        };
        PluginError::Trap {
            plugin: self.plugin.name.clone(),
            view: self.view.clone(),
            message: format!("{e:#}"),
            stderr,
        }
    }
}

/// How many bytes of stderr an instance has written, without copying them
/// (`contents()` copies the whole buffer, up to 1 MiB, on every call). The
/// pipe's clone shares its buffer, and the room left says the length of a
/// pipe made with `STDERR_CAPTURE`'s capacity, as `instantiate` makes it.
fn captured(pipe: &MemoryOutputPipe) -> usize {
    match pipe.clone().check_write() {
        Ok(room) => STDERR_CAPTURE.saturating_sub(room),
        Err(_) => STDERR_CAPTURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_counts_what_was_written_and_a_full_pipe() {
        let pipe = MemoryOutputPipe::new(STDERR_CAPTURE);
        assert_eq!(captured(&pipe), 0);
        let mut writer = pipe.clone();
        writer.write(bytes::Bytes::from_static(b"hello\n")).unwrap();
        assert_eq!(captured(&pipe), 6);
        writer.write(vec![b'x'; STDERR_CAPTURE - 6].into()).unwrap();
        assert_eq!(captured(&pipe), STDERR_CAPTURE);
    }
}
