//! Berth: run pipeline nodes in containers or host processes, exchanging audio and data with
//! the host over zero-copy shared memory.
//!
//! This crate assembles the parts: it reads a [`Manifest`], plans the channels
//! ([`plan`]), starts each node through the backend its executor names (Docker, host process)
//! or as a [native node](native) on a host thread, waits until every node says it is ready,
//! and then moves frames: [`Session::send_audio`] writes straight into shared memory and
//! [`Session::recv_with`] lets the caller read outputs in place.
//!
//! ```no_run
//! # async fn demo() -> Result<(), berth::SessionError> {
//! let manifest = berth::Manifest::from_path("examples/gain/pipeline.yaml").map_err(berth::SessionError::from)?;
//! let mut session = berth::Session::start(&manifest, berth::SessionOptions::default()).await?;
//! session.send_audio("mic", &[0.5; 960], 48_000, 1)?;
//! let doubled = session.recv_with(std::time::Duration::from_secs(1), |out| out.audio().map(<[f32]>::to_vec))?;
//! session.stop().await?;
//! # Ok(()) }
//! ```

mod control;
mod error;
pub mod images;
pub mod native;
pub mod plan;
mod python;
mod session;

pub use berth_manifest::Manifest;
pub use berth_transport::{FrameHeader, FrameKind, TransportConfig};
pub use error::SessionError;
pub use session::{Output, Session, SessionOptions, SessionStats};

/// Links the plugins this crate registers by default, so `inventory` sees them.
#[doc(hidden)]
pub fn link_default_plugins() {
    let _ = berth_iceoryx2::ICEORYX2_VERSION;
    let _ = berth_process::ENV_SESSION;
}
