//! The runtime: what outlives sessions. One per host process (or per service); sessions started
//! from it share container nodes ([`crate::pool`]).

use std::sync::Arc;

use berth_manifest::Manifest;

use crate::pool::{NodePool, SharedNodeInfo};
use crate::{Session, SessionError, SessionOptions};

/// A long-lived owner of shared container nodes. Sessions started with
/// [`Runtime::session`] serve a container node from one running container shared with every
/// other session of this runtime whose node has the same environment, node type, limits,
/// volumes and env (unless the manifest says `docker: {shared: false}`). Each session still
/// gets its own node instance (its own `params` and state) and its own channels. A shared
/// container stops when its last session ends.
///
/// ```no_run
/// # async fn demo() -> Result<(), berth::SessionError> {
/// let manifest = berth::Manifest::from_path("examples/gain-docker/pipeline.yaml").map_err(berth::SessionError::from)?;
/// let runtime = berth::Runtime::new();
/// let a = runtime.session(&manifest, berth::SessionOptions::default()).await?;
/// let b = runtime.session(&manifest, berth::SessionOptions::default()).await?; // joins a's container
/// assert_eq!(runtime.shared_nodes().len(), 1);
/// a.stop().await?;
/// b.stop().await?; // the container goes with the last session
/// runtime.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Runtime {
    pool: Arc<NodePool>,
}

impl Runtime {
    /// A runtime with no shared containers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a session of `manifest` whose container nodes are shared within this runtime.
    pub async fn session(
        &self,
        manifest: &Manifest,
        options: SessionOptions,
    ) -> Result<Session, SessionError> {
        Session::start_in(manifest, options, Some(Arc::clone(&self.pool))).await
    }

    /// The shared containers running now, with how many node instances each serves.
    pub fn shared_nodes(&self) -> Vec<SharedNodeInfo> {
        self.pool.list()
    }

    /// Stops every shared container still running (sessions still using one see it exit).
    pub async fn shutdown(&self) {
        self.pool.shutdown().await;
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // The last handle: nothing can lease a container any more.
        if Arc::strong_count(&self.pool) == 1 {
            self.pool.abort();
        }
    }
}
