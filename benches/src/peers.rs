//! Python peer processes for the baselines (`benches/peers/*.py`): a length-prefixed echo over
//! a Unix stream socket or TCP, and the raw iceoryx2 echo (the floor, no Berth runner).
//!
//! A peer is labelled with `BERTH_SESSION_ID` (so the leak check finds it), dies with its
//! parent, and is ended when dropped: asked first, then `SIGTERM`, then `SIGKILL`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use berth_transport::{SessionId, TransportConfig};

use crate::raw::{RawReceiver, RawSender, RawSession};
use crate::{leaks, python};

/// How long a peer may take to say `READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running Python peer.
pub struct Peer {
    child: Option<Child>,
    name: String,
}

impl Peer {
    /// Starts `benches/peers/{script}` with `args`, labelled with `session`, and waits for its
    /// `READY ...` line; returns the peer and the rest of that line.
    pub fn spawn(
        script: &str,
        args: &[String],
        session: &SessionId,
    ) -> anyhow::Result<(Self, String)> {
        let path = crate::package_dir().join("peers").join(script);
        let mut child = Command::new(python())
            .arg("-u")
            .arg(&path)
            .args(args)
            .env("BERTH_SESSION_ID", session.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} {}", python(), path.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut peer = Self {
            child: Some(child),
            name: script.to_owned(),
        };
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) => line,
            Err(_) => bail!("{script} did not say READY within {READY_TIMEOUT:?}"),
        };
        let Some(rest) = line.trim().strip_prefix("READY") else {
            let status = peer
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            bail!("{script} did not start (said {line:?}, status {status:?})");
        };
        let rest = rest.trim().to_owned();
        peer.name = format!("{script} (pid {})", peer.pid());
        Ok((peer, rest))
    }

    /// The peer's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits up to `grace` for the peer to exit on its own, then `SIGTERM`, then `SIGKILL`.
    pub fn finish(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let wait = |child: &mut Child, within: Duration| {
            let deadline = Instant::now() + within;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            false
        };
        if wait(&mut child, grace) {
            return;
        }
        // SAFETY: plain signal to our own child, which has not been reaped yet.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        if wait(&mut child, Duration::from_secs(2)) {
            return;
        }
        eprintln!("warning: {} ignored SIGTERM; killing it", self.name);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.finish(Duration::ZERO);
    }
}

/// Which byte stream a socket baseline uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// A Unix domain stream socket.
    Unix,
    /// TCP over 127.0.0.1 (Nagle off on both ends).
    Tcp,
}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// The Python echo over a byte stream, with its connection.
pub struct SocketEcho {
    conn: Option<Conn>,
    peer: Peer,
    session: SessionId,
    _dir: tempfile::TempDir,
    message: Vec<u8>,
    reply: Vec<u8>,
}

impl SocketEcho {
    /// Starts the peer and connects to it; every round trip sends `frame` (length-prefixed).
    pub fn start(stream: Stream, frame: &[u8]) -> anyhow::Result<Self> {
        let session = leaks::raw_session();
        let dir = tempfile::Builder::new()
            .prefix("berth-bench-sock-")
            .tempdir()?;
        let (peer, address) = match stream {
            Stream::Unix => {
                let path = dir.path().join("echo.sock");
                Peer::spawn(
                    "socket_echo.py",
                    &["unix".into(), path.to_string_lossy().into_owned()],
                    &session,
                )?
            }
            Stream::Tcp => Peer::spawn("socket_echo.py", &["tcp".into()], &session)?,
        };
        let conn = match stream {
            Stream::Unix => Conn::Unix(UnixStream::connect(&address)?),
            Stream::Tcp => {
                let port: u16 = address.parse().context("the peer's port")?;
                let conn = TcpStream::connect(("127.0.0.1", port))?;
                conn.set_nodelay(true)?;
                Conn::Tcp(conn)
            }
        };
        let mut message = (frame.len() as u32).to_le_bytes().to_vec();
        message.extend_from_slice(frame);
        let reply = vec![0; message.len()];
        Ok(Self {
            conn: Some(conn),
            peer,
            session,
            _dir: dir,
            message,
            reply,
        })
    }

    /// The peer's pid.
    pub fn pid(&self) -> u32 {
        self.peer.pid()
    }

    /// One frame there and back.
    pub fn round_trip(&mut self) -> std::io::Result<()> {
        let (message, reply) = (&self.message, &mut self.reply);
        match self.conn.as_mut().expect("connected") {
            Conn::Unix(s) => {
                s.write_all(message)?;
                s.read_exact(reply)?;
            }
            Conn::Tcp(s) => {
                s.write_all(message)?;
                s.read_exact(reply)?;
            }
        }
        debug_assert_eq!(&reply[..], &message[..]);
        Ok(())
    }

    /// Closes the connection (the peer exits on it) and checks the peer is gone.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.conn = None;
        self.peer.finish(Duration::from_secs(2));
        let left = leaks::check(&self.session);
        if !left.is_empty() {
            bail!("socket echo left {left:?}");
        }
        Ok(())
    }
}

/// The raw iceoryx2 echo in Python, with the host's ports.
pub struct Iox2Echo {
    peer: Peer,
    ping: Option<RawSender>,
    pong: Option<RawReceiver>,
    raw: Option<RawSession>,
    frame_len: usize,
}

impl Iox2Echo {
    /// Creates the services, starts the peer (`spin`: it polls; else it sleeps on the listener,
    /// and so does the host) and waits until it is ready.
    pub fn start(spin: bool, frame_len: usize) -> anyhow::Result<Self> {
        let session = leaks::raw_session();
        let config = TransportConfig {
            max_frame_bytes: frame_len.max(64),
            ..TransportConfig::default()
        };
        let raw = RawSession::new(&session, &config)?;
        let ping_channel = raw.channel("ping")?;
        let pong_channel = raw.channel("pong")?;
        let ping = ping_channel.sender()?;
        let pong = pong_channel.receiver(spin)?;
        let (peer, _) = Peer::spawn(
            "iox2_echo.py",
            &[
                format!("berth_{session}_"),
                ping_channel.name().to_owned(),
                pong_channel.name().to_owned(),
                if spin { "spin" } else { "event" }.to_owned(),
                config.max_frame_bytes.to_string(),
            ],
            &session,
        )?;
        Ok(Self {
            peer,
            ping: Some(ping),
            pong: Some(pong),
            raw: Some(raw),
            frame_len,
        })
    }

    /// The peer's pid.
    pub fn pid(&self) -> u32 {
        self.peer.pid()
    }

    /// One frame there and back: the payload copied into the loaned sample, echoed, read.
    pub fn round_trip(&mut self, frame: &[u8]) -> anyhow::Result<()> {
        let ping = self.ping.as_mut().expect("running");
        ping.send_with(frame.len(), 0, None, |payload| {
            payload.copy_from_slice(frame)
        })?;
        let len = self
            .pong
            .as_mut()
            .expect("running")
            .receive_with(Duration::from_secs(5), |_, payload| payload.len())?
            .ok_or_else(|| anyhow!("no echo within 5 s"))?;
        if len != self.frame_len {
            bail!("echo of {len} bytes, sent {}", self.frame_len);
        }
        Ok(())
    }

    /// Asks the peer to stop, waits for it, removes the services, checks nothing is left.
    pub fn stop(mut self) -> anyhow::Result<()> {
        if let Some(ping) = self.ping.as_mut() {
            ping.send_stop()?;
        }
        self.peer.finish(Duration::from_secs(3));
        self.ping = None;
        self.pong = None;
        let session = self.raw.as_ref().map(|r| r.session().clone());
        self.raw = None;
        if let Some(session) = session {
            let mut left = leaks::release_raw(&session);
            left.extend(leaks::check(&session));
            if !left.is_empty() {
                bail!("raw iceoryx2 echo left {left:?}");
            }
        }
        Ok(())
    }
}

impl Drop for Iox2Echo {
    fn drop(&mut self) {
        self.peer.finish(Duration::ZERO);
        self.ping = None;
        self.pong = None;
        self.raw = None;
    }
}
