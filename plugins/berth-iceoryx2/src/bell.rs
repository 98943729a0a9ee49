//! Doorbells: a named pipe (FIFO) per reader, which a channel's writers ring after every send.
//!
//! The cheaper alternative to iceoryx2's event service for waking a sleeping reader
//! ([`Doorbell::Fifo`](crate::Doorbell::Fifo), BENCHMARKS.md "Waiting"). A channel's doorbells
//! live in one folder, `{root}/{prefix}{channel}.bells`, one FIFO per reader under a random
//! name. A container reaches them by path, through the same bind as the iceoryx2 root, and the
//! folder carries the session's prefix, so the session's sweep removes it with the rest.
//!
//! Beside the bells, the folder holds `.generation`: a 64-bit counter in shared memory that a
//! reader increments after it made its bell and after it removed it. A writer keeps its
//! readers' bells open and reads the counter at every ring (a load from memory, no system
//! call: a `stat` of the folder doubled a paced ring's cost from a container here); when it
//! changed, it opens the bells anew. Counter first, listing second, so a bell made meanwhile
//! is found now or at the next ring; two readers that increment at once may leave one
//! increment, but the counter still moves. A reader makes its bell before it subscribes, so a
//! writer that delivered a frame to it finds its bell. Both ends open a bell
//! `O_RDWR | O_NONBLOCK`, so ringing never blocks, never raises `SIGPIPE`, and a bell whose
//! reader died only fills up (then a ring is refused with `EAGAIN`: "already rung").
//!
//! A reader that polls can say so: beside its bell, `{bell}.awake` holds a `CLOCK_MONOTONIC`
//! time before which it promises to look at its input again without sleeping (the Python
//! runner does, `runner/python/berth/bell.py`). A writer that finds that time more than
//! [`AWAKE_MARGIN`] ahead of its clock, after its send, does not ring that bell: on a shared
//! CPU the ring (a system call, tens of microseconds on a paced frame) would run before the
//! reader could. A reader keeps every promise (it never blocks before the latest has passed
//! and looks once more after it), so a writer that reads an old promise is still right; the
//! margin covers the time a sent frame takes to become visible to another CPU. A reader
//! without the file is always rung. The host's readers promise too while they poll for an
//! expected reply ([`Bell::promise`]), and withdraw the promise when they stop polling.

use std::ffi::CString;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use berth_transport::monotonic_ns;

/// The counter's file in a bells folder; bells are the other entries (and their promises).
const GENERATION: &str = ".generation";

/// The suffix of a bell's promise file (`{bell}.awake`).
const AWAKE: &str = ".awake";

/// How far ahead a reader's promise must reach for a writer to skip its ring.
pub(crate) const AWAKE_MARGIN: Duration = Duration::from_micros(20);

/// The folder of `channel`'s doorbells under the iceoryx2 `root`, named with the session's
/// iceoryx2 `prefix`.
pub(crate) fn folder(root: &Path, prefix: &str, channel: &str) -> PathBuf {
    root.join(format!("{prefix}{channel}.bells"))
}

/// Makes `dir` (owner only) if it is missing; its counter comes with the first bell or ringer.
pub(crate) fn make_folder(dir: &Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// A 64-bit word in a mapped file: a folder's `.generation` counter, or a bell's promise.
struct Word {
    counter: NonNull<AtomicU64>,
}

// SAFETY: the mapping is shared memory read and written only through the atomic.
unsafe impl Send for Word {}

/// A folder's `.generation` counter.
type Generation = Word;

impl Word {
    /// The folder's counter, mapped (the folder and the counter made if missing).
    fn open(dir: &Path) -> std::io::Result<Self> {
        make_folder(dir)?;
        Self::open_or_make(&dir.join(GENERATION))
    }

    /// The word in the file at `path`, mapped (the file made, and sized, if missing).
    fn open_or_make(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        if file.metadata()?.len() < 8 {
            file.set_len(8)?; // the first to open it; never shrinks one in use
        }
        Self::map(&file)
    }

    /// The promise of the bell at `bell`, mapped; `None` when it has none (yet).
    fn promise_of(bell: &Path) -> Option<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(promise_path(bell))
            .ok()?;
        // Shorter: its reader is still making it.
        (file.metadata().ok()?.len() >= 8).then(|| Self::map(&file).ok())?
    }

    fn map(file: &File) -> std::io::Result<Self> {
        // SAFETY: maps 8 bytes of a file at least that long, shared, at an address the kernel
        // picks; the result is checked before use.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let counter = NonNull::new(at.cast::<AtomicU64>()).expect("mmap never maps address 0");
        Ok(Self { counter })
    }

    fn get(&self) -> u64 {
        // SAFETY: the mapping lives as long as `self`; page-aligned, so aligned for a u64.
        unsafe { self.counter.as_ref() }.load(Ordering::Acquire)
    }

    fn bump(&self) {
        // SAFETY: as in `get`.
        unsafe { self.counter.as_ref() }.fetch_add(1, Ordering::AcqRel);
    }

    fn set(&self, value: u64) {
        // SAFETY: as in `get`.
        unsafe { self.counter.as_ref() }.store(value, Ordering::SeqCst);
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`.
        unsafe { libc::munmap(self.counter.as_ptr().cast(), 8) };
    }
}

fn open_bell(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// A reader's doorbell: readable while a ring is pending.
pub(crate) struct Bell {
    file: File,
    path: PathBuf,
    /// The reader's promise to look again (`{bell}.awake`): 0 until it makes one.
    promise: Word,
    generation: Generation,
}

/// The path of `bell`'s promise file.
fn promise_path(bell: &Path) -> PathBuf {
    let mut path = bell.as_os_str().to_owned();
    path.push(AWAKE);
    path.into()
}

impl Bell {
    /// Makes a bell of its own in `dir` (and `dir` if needed).
    pub(crate) fn create(dir: &Path) -> std::io::Result<Self> {
        let generation = Generation::open(dir)?;
        let path = dir.join(format!("{:016x}", random_u64()));
        // The promise file first: a writer that finds the bell finds its promise too.
        let promise = Word::open_or_make(&promise_path(&path))?;
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?;
        // SAFETY: a NUL-terminated path.
        let file = if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
            Err(std::io::Error::last_os_error())
        } else {
            open_bell(&path).inspect_err(|_| {
                let _ = std::fs::remove_file(&path);
            })
        }
        .inspect_err(|_| {
            let _ = std::fs::remove_file(promise_path(&path));
        })?;
        generation.bump();
        Ok(Self {
            file,
            path,
            promise,
            generation,
        })
    }

    /// Promises the writers that this reader looks at its input again, without blocking,
    /// until `until_ns` (`CLOCK_MONOTONIC`), and once more after it, so they need not ring
    /// meanwhile; 0 withdraws the promise, after which the reader looks once more before it
    /// next blocks (a writer may have read the promise before it was withdrawn).
    pub(crate) fn promise(&self, until_ns: u64) {
        self.promise.set(until_ns);
    }

    /// The descriptor that turns readable when the bell is rung.
    pub(crate) fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Waits up to `timeout` for a ring and takes the rings; `Ok(false)` when none came (or a
    /// signal interrupted).
    pub(crate) fn wait(&mut self, timeout: Duration) -> std::io::Result<bool> {
        let mut poll = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: one valid pollfd, a valid timespec, no signal mask.
        let n = unsafe { libc::ppoll(&mut poll, 1, &timeout, std::ptr::null()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        if n == 1 {
            self.clear();
        }
        Ok(n == 1)
    }

    /// Takes every pending ring without waiting: one read, as a reader is rung once a frame
    /// and its queue holds far fewer frames than the read takes rings (a ring left over only
    /// ends the next wait at once).
    pub(crate) fn clear(&mut self) {
        let mut buf = [0u8; 4096];
        let _ = self.file.read(&mut buf);
    }
}

impl Drop for Bell {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(promise_path(&self.path));
        self.generation.bump();
    }
}

/// What a writer knows of a doorbell folder: which bells it has open (each with its reader's
/// promise, if it makes any), as of which generation.
pub(crate) struct Ringer {
    dir: PathBuf,
    generation: Generation,
    seen: Option<u64>,
    bells: Vec<(File, Option<Word>)>,
}

impl Ringer {
    /// A writer's side of the bells in `dir` (made if missing), opened at the first ring.
    pub(crate) fn new(dir: PathBuf) -> std::io::Result<Self> {
        Ok(Self {
            generation: Generation::open(&dir)?,
            dir,
            seen: None,
            bells: Vec::new(),
        })
    }

    /// Rings every reader's bell, but for readers that promised to look again soon.
    pub(crate) fn ring(&mut self) -> std::io::Result<()> {
        let generation = self.generation.get();
        if self.seen != Some(generation) {
            self.reopen()?;
            self.seen = Some(generation);
        }
        let mut soon = None;
        for (bell, promise) in &self.bells {
            if let Some(promise) = promise {
                let soon = *soon.get_or_insert_with(|| {
                    // The frame's send before the promises' loads: paired with the reader's
                    // withdrawal before its last look (`Bell::promise`), one of the two sees
                    // the other.
                    std::sync::atomic::fence(Ordering::SeqCst);
                    monotonic_ns() + AWAKE_MARGIN.as_nanos() as u64
                });
                if promise.get() > soon {
                    continue;
                }
            }
            match (&*bell).write(&[1]) {
                Ok(_) => {}
                // Full: rung many times and not yet cleared, so rung already.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Opens the bells in the folder now.
    fn reopen(&mut self) -> std::io::Result<()> {
        self.bells.clear();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == GENERATION || name.as_encoded_bytes().ends_with(AWAKE.as_bytes()) {
                continue;
            }
            let path = entry.path();
            match open_bell(&path) {
                Ok(bell) => self.bells.push((bell, Word::promise_of(&path))),
                // Its reader removed it between the listing and here.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// How many bells the latest look found.
    #[cfg(test)]
    pub(crate) fn bells(&self) -> usize {
        self.bells.len()
    }
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: a valid buffer of the length given.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n == bytes.len() as isize {
        return u64::from_ne_bytes(bytes);
    }
    // No getrandom: the pid and the time still differ between readers of one folder.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-bells-{name}-{:x}", random_u64()));
        make_folder(&dir).unwrap();
        dir
    }

    #[test]
    fn a_ring_wakes_the_reader_once_until_cleared() {
        let dir = dir("ring");
        let mut bell = Bell::create(&dir).unwrap();
        let mut ringer = Ringer::new(dir.clone()).unwrap();
        assert!(!bell.wait(Duration::ZERO).unwrap(), "idle before a ring");
        ringer.ring().unwrap();
        ringer.ring().unwrap();
        assert!(bell.wait(Duration::from_secs(5)).unwrap());
        bell.clear();
        assert!(
            !bell.wait(Duration::ZERO).unwrap(),
            "cleared rings are gone"
        );
        drop((bell, ringer));
        std::fs::remove_file(dir.join(GENERATION)).unwrap();
        std::fs::remove_dir(&dir).expect("a dropped bell removes its pipe");
    }

    #[test]
    fn readers_that_come_and_go_are_found_at_the_next_ring() {
        let dir = dir("readers");
        let mut ringer = Ringer::new(dir.clone()).unwrap();
        ringer.ring().unwrap();
        assert_eq!(ringer.bells(), 0);
        let mut first = Bell::create(&dir).unwrap();
        ringer.ring().unwrap();
        assert_eq!(ringer.bells(), 1);
        assert!(first.wait(Duration::ZERO).unwrap());
        // A restarted reader: the old bell goes, a new one comes, and it is rung.
        drop(first);
        let mut second = Bell::create(&dir).unwrap();
        ringer.ring().unwrap();
        assert_eq!(ringer.bells(), 1);
        assert!(second.wait(Duration::ZERO).unwrap());
        let mut third = Bell::create(&dir).unwrap();
        ringer.ring().unwrap();
        assert_eq!(ringer.bells(), 2);
        assert!(third.wait(Duration::ZERO).unwrap());
        drop((second, third));
        ringer.ring().unwrap();
        assert_eq!(ringer.bells(), 0, "readers that left are not rung");
        drop(ringer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reader_that_promised_to_look_again_soon_is_not_rung() {
        let dir = dir("promise");
        let mut bell = Bell::create(&dir).unwrap();
        let awake = promise_path(&bell.path);
        assert!(awake.exists(), "a bell is made with its promise file");
        let mut ringer = Ringer::new(dir.clone()).unwrap();
        ringer.ring().unwrap();
        assert!(bell.wait(Duration::ZERO).unwrap(), "no promise yet: rung");
        bell.promise(monotonic_ns() + 10_000_000_000);
        ringer.ring().unwrap();
        assert_eq!(ringer.bells(), 1, "a promise is not a bell");
        assert!(
            !bell.wait(Duration::ZERO).unwrap(),
            "promised for 10 s: not rung"
        );
        bell.promise(monotonic_ns() + AWAKE_MARGIN.as_nanos() as u64 / 2);
        ringer.ring().unwrap();
        assert!(
            bell.wait(Duration::ZERO).unwrap(),
            "a promise ending within the margin: rung"
        );
        bell.promise(monotonic_ns() + 10_000_000_000);
        bell.promise(0);
        ringer.ring().unwrap();
        assert!(
            bell.wait(Duration::ZERO).unwrap(),
            "a withdrawn promise: rung"
        );
        drop(bell);
        assert!(!awake.exists(), "the promise file goes with its bell");
        drop(ringer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bell_nobody_clears_fills_up_without_failing_the_ring() {
        let dir = dir("full");
        let mut bell = Bell::create(&dir).unwrap();
        let mut ringer = Ringer::new(dir.clone()).unwrap();
        // A pipe holds 64 KiB; ring well past that.
        for _ in 0..70_000 {
            ringer.ring().unwrap();
        }
        assert!(bell.wait(Duration::ZERO).unwrap());
        for _ in 0..16 {
            bell.clear();
        }
        assert!(
            !bell.wait(Duration::ZERO).unwrap(),
            "a full bell clears in a few reads"
        );
        drop((bell, ringer));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
