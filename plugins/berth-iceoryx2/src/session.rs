//! One session's iceoryx2 node and the services it created.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use berth_transport::{
    ChannelName, FrameReceiver, FrameSender, SessionId, SessionTransport, TransportConfig,
    TransportError,
};
use iceoryx2::prelude::*;

use crate::Doorbell;
use crate::bell;
use crate::channel::{Iceoryx2Receiver, Iceoryx2Sender};
use crate::resources::{session_config, session_prefix};
use crate::services::{Ipc, Services, error};
use crate::wire::{PAYLOAD_ALIGNMENT, WireHeader};

pub(crate) struct Iceoryx2Session {
    session: SessionId,
    root: String,
    config: TransportConfig,
    doorbell: Doorbell,
    node: Option<Node<Ipc>>,
    channels: Mutex<HashMap<String, Arc<Services>>>,
    /// Free shared memory when the session opened, in bytes (`None` if it cannot be read).
    shm_free: Option<u64>,
}

/// Where POSIX shared memory lives.
const SHM_DIR: &str = "/dev/shm";

/// Free bytes in `dir`'s file system.
fn free_bytes(dir: &str) -> Option<u64> {
    let path = std::ffi::CString::new(dir).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stat` is a valid out-pointer.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs filled it in.
    let stat = unsafe { stat.assume_init() };
    Some(stat.f_bavail * stat.f_frsize)
}

impl Iceoryx2Session {
    pub(crate) fn open(
        root: &Path,
        session: &SessionId,
        config: &TransportConfig,
        doorbell: Doorbell,
    ) -> Result<Self, TransportError> {
        let iox_config = session_config(root, session)?;
        let name =
            NodeName::new("berth-host").map_err(|e| error("name the node", session.as_str(), e))?;
        let node = NodeBuilder::new()
            .name(&name)
            .config(&iox_config)
            .create::<Ipc>()
            .map_err(|e| error("create the iceoryx2 node", session.as_str(), e))?;
        tracing::debug!(%session, prefix = %session_prefix(session), "iceoryx2 session opened");
        Ok(Self {
            session: session.clone(),
            root: root.to_string_lossy().into_owned(),
            config: config.clone(),
            doorbell,
            node: Some(node),
            channels: Mutex::new(HashMap::new()),
            shm_free: free_bytes(SHM_DIR),
        })
    }

    /// Preflight: the channels made so far, plus this one, must fit in the shared memory that
    /// was free when the session opened, when every reader's queue is full of the largest
    /// frames. Failing here, before any node starts, beats a node dying of SIGBUS mid-stream.
    fn check_room(&self, channel: &ChannelName) -> Result<(), TransportError> {
        let Some(free) = self.shm_free else {
            return Ok(());
        };
        let frames = self.config.queue_depth.max(1) + 2;
        let per_channel = (frames * self.config.max_frame_bytes) as u64;
        let channels = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
            + 1;
        let needed = per_channel * channels as u64;
        if needed <= free {
            return Ok(());
        }
        tracing::warn!(channel = %channel, needed, free, "shared memory too small for the session");
        Err(TransportError::SharedMemoryTooSmall {
            path: SHM_DIR.to_owned(),
            channels,
            frames,
            frame_kib: self.config.max_frame_bytes / 1024,
            needed_mib: needed.div_ceil(1 << 20),
            available_mib: free >> 20,
        })
    }

    /// The folder of `channel`'s doorbells, when the session rings them.
    fn bells(&self, channel: &ChannelName) -> Option<std::path::PathBuf> {
        (self.doorbell == Doorbell::Fifo).then(|| {
            bell::folder(
                Path::new(&self.root),
                &session_prefix(&self.session),
                channel.as_str(),
            )
        })
    }

    fn node(&self) -> &Node<Ipc> {
        self.node.as_ref().expect("the node lives until drop")
    }

    fn services(&self, channel: &ChannelName) -> Result<Arc<Services>, TransportError> {
        if let Some(found) = self
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel.as_str())
        {
            return Ok(Arc::clone(found));
        }
        // A channel created by another process of the session (not by this host).
        let name = service_name(channel)?;
        let data = self
            .node()
            .service_builder(&name)
            .publish_subscribe::<[u8]>()
            .user_header::<WireHeader>()
            .payload_alignment(alignment())
            .open()
            .map_err(|_| TransportError::NoSuchChannel {
                channel: channel.to_string(),
            })?;
        let events = match self.doorbell {
            Doorbell::Fifo => None,
            Doorbell::Event => Some(self.node().service_builder(&name).event().open().map_err(
                |_| TransportError::NoSuchChannel {
                    channel: channel.to_string(),
                },
            )?),
        };
        Ok(Arc::new(Services { data, events }))
    }
}

impl SessionTransport for Iceoryx2Session {
    fn session(&self) -> &SessionId {
        &self.session
    }

    fn create_channel(&self, channel: &ChannelName) -> Result<(), TransportError> {
        self.check_room(channel)?;
        let name = service_name(channel)?;
        let data = self
            .node()
            .service_builder(&name)
            .publish_subscribe::<[u8]>()
            .user_header::<WireHeader>()
            .payload_alignment(alignment())
            .enable_safe_overflow(false)
            .subscriber_max_buffer_size(self.config.queue_depth.max(1))
            .subscriber_max_borrowed_samples(2)
            .max_subscribers(8)
            .max_publishers(2)
            .max_nodes(16)
            .create()
            .map_err(|e| error("create the pub-sub service", channel.as_str(), e))?;
        let events = match self.bells(channel) {
            Some(dir) => {
                bell::make_folder(&dir)
                    .map_err(|e| error("make the doorbell folder", channel.as_str(), e))?;
                None
            }
            None => Some(
                self.node()
                    .service_builder(&name)
                    .event()
                    .max_notifiers(8)
                    .max_listeners(8)
                    .max_nodes(16)
                    .create()
                    .map_err(|e| error("create the event service", channel.as_str(), e))?,
            ),
        };
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                channel.as_str().to_owned(),
                Arc::new(Services { data, events }),
            );
        Ok(())
    }

    fn sender(&self, channel: &ChannelName) -> Result<Box<dyn FrameSender>, TransportError> {
        Ok(Box::new(Iceoryx2Sender::new(
            channel.clone(),
            self.services(channel)?,
            &self.config,
            self.bells(channel),
        )?))
    }

    fn receiver(&self, channel: &ChannelName) -> Result<Box<dyn FrameReceiver>, TransportError> {
        Ok(Box::new(Iceoryx2Receiver::new(
            channel.clone(),
            self.services(channel)?,
            &self.config,
            self.bells(channel),
        )?))
    }

    fn runner_spec(&self) -> Vec<(String, String)> {
        vec![
            ("iceoryx2_prefix".into(), session_prefix(&self.session)),
            ("iceoryx2_root".into(), self.root.clone()),
            ("iceoryx2_doorbell".into(), self.doorbell.as_str().into()),
        ]
    }
}

impl Drop for Iceoryx2Session {
    fn drop(&mut self) {
        // Services go away with their last port; dropping ours before the node lets iceoryx2
        // remove them. What iceoryx2 keeps per prefix (its node registry segment) belongs to
        // this session alone, so it goes too once no port of the session is left.
        let channels: Vec<_> =
            std::mem::take(&mut *self.channels.lock().unwrap_or_else(|p| p.into_inner()))
                .into_values()
                .collect();
        let last_holder = channels.iter().all(|c| Arc::strong_count(c) == 1);
        drop(channels);
        self.node.take();
        if last_holder
            && let Err(e) = crate::resources::sweep(std::path::Path::new(&self.root), &self.session)
        {
            tracing::warn!(session = %self.session, error = %e, "leftover iceoryx2 resources");
        }
    }
}

fn service_name(channel: &ChannelName) -> Result<ServiceName, TransportError> {
    ServiceName::new(channel.as_str()).map_err(|e| error("name the service", channel.as_str(), e))
}

fn alignment() -> Alignment {
    Alignment::new(PAYLOAD_ALIGNMENT).expect("8 is a power of two")
}
