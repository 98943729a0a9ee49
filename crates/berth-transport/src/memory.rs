//! An in-process transport: channels are bounded queues guarded by a mutex and a condition
//! variable. It follows the same contract as the shared-memory transport (sequence numbers,
//! bounded backpressure, end-of-stream) and passes the same conformance suite, so native nodes
//! and tests can run without shared memory. Payload buffers are pooled, so the steady state
//! allocates nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::{
    ChannelName, Delivery, FrameHeader, FrameReceiver, FrameSender, SessionId, SessionTransport,
    Transport, TransportConfig, TransportError,
};

/// The in-process transport.
#[derive(Default)]
pub struct MemoryTransport {
    sessions: Mutex<HashMap<SessionId, Weak<SessionState>>>,
}

impl MemoryTransport {
    /// A transport with no sessions.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Transport for MemoryTransport {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn crosses_processes(&self) -> bool {
        false
    }

    fn open_session(
        &self,
        session: &SessionId,
        config: &TransportConfig,
    ) -> Result<Box<dyn SessionTransport>, TransportError> {
        let state = Arc::new(SessionState {
            session: session.clone(),
            config: config.clone(),
            channels: Mutex::new(HashMap::new()),
        });
        lock(&self.sessions).insert(session.clone(), Arc::downgrade(&state));
        Ok(Box::new(MemorySession(state)))
    }

    fn sweep_session(&self, session: &SessionId) -> Result<usize, TransportError> {
        Ok(lock(&self.sessions)
            .remove(session)
            .map_or(0, |w| w.strong_count()))
    }

    fn session_resources(&self, session: &SessionId) -> Vec<String> {
        let sessions = lock(&self.sessions);
        let Some(state) = sessions.get(session).and_then(Weak::upgrade) else {
            return Vec::new();
        };
        lock(&state.channels).keys().cloned().collect()
    }
}

struct SessionState {
    session: SessionId,
    config: TransportConfig,
    channels: Mutex<HashMap<String, Arc<Channel>>>,
}

struct MemorySession(Arc<SessionState>);

impl MemorySession {
    fn channel(&self, name: &ChannelName) -> Result<Arc<Channel>, TransportError> {
        lock(&self.0.channels)
            .get(name.as_str())
            .cloned()
            .ok_or_else(|| TransportError::NoSuchChannel {
                channel: name.to_string(),
            })
    }
}

impl SessionTransport for MemorySession {
    fn session(&self) -> &SessionId {
        &self.0.session
    }

    fn create_channel(&self, channel: &ChannelName) -> Result<(), TransportError> {
        lock(&self.0.channels)
            .entry(channel.as_str().to_owned())
            .or_insert_with(|| {
                Arc::new(Channel {
                    depth: self.0.config.queue_depth.max(1),
                    readers: Mutex::new(Vec::new()),
                    pool: Mutex::new(Vec::new()),
                })
            });
        Ok(())
    }

    fn sender(&self, channel: &ChannelName) -> Result<Box<dyn FrameSender>, TransportError> {
        Ok(Box::new(MemorySender {
            name: channel.clone(),
            channel: self.channel(channel)?,
            next_sequence: 0,
            send_timeout: self.0.config.send_timeout,
            readers: Vec::new(),
        }))
    }

    fn receiver(&self, channel: &ChannelName) -> Result<Box<dyn FrameReceiver>, TransportError> {
        let shared = self.channel(channel)?;
        let queue = Arc::new(ReaderQueue {
            frames: Mutex::new(VecDeque::with_capacity(shared.depth)),
            changed: Condvar::new(),
        });
        lock(&shared.readers).push(Arc::downgrade(&queue));
        Ok(Box::new(MemoryReceiver {
            name: channel.clone(),
            channel: shared,
            queue,
            expected: None,
        }))
    }

    fn runner_spec(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

struct Channel {
    depth: usize,
    readers: Mutex<Vec<Weak<ReaderQueue>>>,
    pool: Mutex<Vec<Arc<Vec<u8>>>>,
}

struct ReaderQueue {
    frames: Mutex<VecDeque<(FrameHeader, Arc<Vec<u8>>)>>,
    changed: Condvar,
}

struct MemorySender {
    name: ChannelName,
    channel: Arc<Channel>,
    next_sequence: u64,
    send_timeout: Duration,
    /// The readers a send delivers to, gathered under the channel's lock and then served
    /// without it; kept between sends so a send allocates nothing.
    readers: Vec<Arc<ReaderQueue>>,
}

impl FrameSender for MemorySender {
    fn send_with(
        &mut self,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut FrameHeader, &mut [u8]),
    ) -> Result<u64, TransportError> {
        let mut buffer = lock(&self.channel.pool)
            .pop()
            .unwrap_or_else(|| Arc::new(Vec::new()));
        let bytes = Arc::get_mut(&mut buffer).expect("pooled buffers are unshared");
        bytes.clear();
        bytes.resize(payload_len, 0);
        let mut header = FrameHeader::default();
        fill(&mut header, bytes);
        header.sequence = self.next_sequence;
        header.payload_len = payload_len as u64;

        let deadline = Instant::now() + self.send_timeout;
        {
            let mut readers = lock(&self.channel.readers);
            readers.retain(|r| r.strong_count() > 0);
            self.readers
                .extend(readers.iter().filter_map(Weak::upgrade));
        }
        let result = self.deliver(header, buffer, deadline);
        self.readers.clear();
        result?;
        self.next_sequence += 1;
        Ok(header.sequence)
    }

    fn channel(&self) -> &ChannelName {
        &self.name
    }
}

impl MemorySender {
    /// Queues the frame for every reader in `self.readers`, waiting for room until `deadline`.
    /// The last reader gets the sender's own handle on the buffer, so the reader that is done
    /// with it last finds it unshared and returns it to the pool (no allocation next send); a
    /// frame no reader takes goes back to the pool at once.
    fn deliver(
        &self,
        header: FrameHeader,
        buffer: Arc<Vec<u8>>,
        deadline: Instant,
    ) -> Result<(), TransportError> {
        let Some((last, others)) = self.readers.split_last() else {
            lock(&self.channel.pool).push(buffer);
            return Ok(());
        };
        for reader in others {
            self.queue(reader, header, Arc::clone(&buffer), deadline)?;
        }
        self.queue(last, header, buffer, deadline)
    }

    /// Queues the frame for `reader`, waiting for room until `deadline`.
    fn queue(
        &self,
        reader: &ReaderQueue,
        header: FrameHeader,
        buffer: Arc<Vec<u8>>,
        deadline: Instant,
    ) -> Result<(), TransportError> {
        let mut frames = lock(&reader.frames);
        while frames.len() >= self.channel.depth {
            let now = Instant::now();
            if now >= deadline {
                return Err(TransportError::Backpressure {
                    channel: self.name.to_string(),
                    waited_ms: self.send_timeout.as_millis() as u64,
                });
            }
            frames = reader
                .changed
                .wait_timeout(frames, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        frames.push_back((header, buffer));
        reader.changed.notify_all();
        Ok(())
    }
}

struct MemoryReceiver {
    name: ChannelName,
    channel: Arc<Channel>,
    queue: Arc<ReaderQueue>,
    expected: Option<u64>,
}

impl FrameReceiver for MemoryReceiver {
    fn receive_with(
        &mut self,
        timeout: Duration,
        read: &mut dyn FnMut(&FrameHeader, &[u8]),
    ) -> Result<Option<Delivery>, TransportError> {
        let deadline = Instant::now() + timeout;
        let mut frames = lock(&self.queue.frames);
        let (header, buffer) = loop {
            if let Some(frame) = frames.pop_front() {
                break frame;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            frames = self
                .queue
                .changed
                .wait_timeout(frames, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        };
        self.queue.changed.notify_all();
        drop(frames);

        let lost_before = self
            .expected
            .map_or(0, |expected| header.sequence.saturating_sub(expected));
        self.expected = Some(header.sequence + 1);
        read(&header, &buffer);
        if Arc::strong_count(&buffer) == 1 {
            lock(&self.channel.pool).push(buffer);
        }
        Ok(Some(Delivery { lost_before }))
    }

    fn channel(&self) -> &ChannelName {
        &self.name
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
