//! A cgroup's usage, v1 (one hierarchy per controller, as Docker 20.10 sets up here) or v2 (one
//! unified hierarchy). The cgroup is found from `/proc/<pid>/cgroup` of a process in it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{ResourceError, Sampler, SavedSampler, Usage, number, read};

/// Where cgroup hierarchies are mounted.
const ROOT: &str = "/sys/fs/cgroup";

/// v1 reports "no limit" as a huge page-aligned number; anything this large is no limit.
const NO_LIMIT_V1: u64 = 1 << 62;

/// The cgroup files of one node.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "version", rename_all = "snake_case")]
enum Layout {
    V1 {
        memory: PathBuf,
        cpuacct: Option<PathBuf>,
        pids: Option<PathBuf>,
    },
    V2 {
        dir: PathBuf,
    },
}

/// Samples one cgroup. It serializes to the cgroup's paths, so another process (`berth ps`)
/// can sample the same cgroup later.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupSampler {
    name: String,
    layout: Layout,
}

impl CgroupSampler {
    /// The cgroup process `pid` belongs to: its memory controller's under v1, its unified one
    /// under v2.
    pub fn of_process(pid: u32) -> Result<Self, ResourceError> {
        let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let text = read(&path, &format!("process {pid}"))?;
        Self::from_proc_cgroup(&text, Path::new(ROOT)).ok_or_else(|| ResourceError::Malformed {
            path: path.display().to_string(),
            text: text.chars().take(80).collect(),
        })
    }

    /// Reads a `/proc/<pid>/cgroup` text against hierarchies mounted at `root`.
    fn from_proc_cgroup(text: &str, root: &Path) -> Option<Self> {
        // Lines are `id:controllers:path`; v2 is `0::path`.
        let mut unified = None;
        let mut v1 = std::collections::HashMap::new();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let path = path.trim_start_matches('/');
            if controllers.is_empty() {
                unified = Some(path.to_owned());
            }
            for controller in controllers.split(',') {
                v1.insert(
                    controller.to_owned(),
                    (controllers.to_owned(), path.to_owned()),
                );
            }
        }
        let dir_of = |controller: &str| {
            let (mount, path) = v1.get(controller)?;
            [mount.as_str(), controller]
                .iter()
                .map(|m| root.join(m).join(path))
                .find(|d| d.is_dir())
        };
        if let Some(memory) = dir_of("memory") {
            let name = format!("cgroup v1 /{}", v1.get("memory")?.1);
            return Some(Self {
                name,
                layout: Layout::V1 {
                    memory,
                    cpuacct: dir_of("cpuacct"),
                    pids: dir_of("pids"),
                },
            });
        }
        let path = unified?;
        // A hybrid host mounts the unified tree at `unified/`; a v2-only host at the root.
        let dir = [root.join("unified").join(&path), root.join(&path)]
            .into_iter()
            .find(|d| d.is_dir())?;
        Some(Self {
            name: format!("cgroup v2 /{path}"),
            layout: Layout::V2 { dir },
        })
    }

    fn sample_v1(
        &self,
        memory: &Path,
        cpuacct: Option<&Path>,
        pids: Option<&Path>,
    ) -> Result<Usage, ResourceError> {
        let file = |dir: &Path, name: &str| -> Result<u64, ResourceError> {
            let path = dir.join(name);
            number(&path, &read(&path, &self.name)?)
        };
        let limit = file(memory, "memory.limit_in_bytes")?;
        Ok(Usage {
            cpu: match cpuacct {
                Some(dir) => Duration::from_nanos(file(dir, "cpuacct.usage")?),
                None => Duration::ZERO,
            },
            memory_bytes: file(memory, "memory.usage_in_bytes")?,
            memory_peak_bytes: Some(file(memory, "memory.max_usage_in_bytes")?),
            memory_limit_bytes: (limit < NO_LIMIT_V1).then_some(limit),
            // With swap accounting (Docker's `--memory-swap`) a charge is tried against the
            // memory+swap counter first, and one that fails there is counted only there.
            memory_limit_hits: Some(
                file(memory, "memory.failcnt")? + file(memory, "memory.memsw.failcnt").unwrap_or(0),
            ),
            tasks: pids.and_then(|dir| file(dir, "pids.current").ok()),
        })
    }

    fn sample_v2(&self, dir: &Path) -> Result<Usage, ResourceError> {
        let text = |name: &str| read(&dir.join(name), &self.name);
        let current = {
            let path = dir.join("memory.current");
            number(&path, &text("memory.current")?)?
        };
        let keyed = |name: &str, key: &str| -> Option<u64> {
            text(name).ok()?.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok())?
            })
        };
        let usage_usec = keyed("cpu.stat", "usage_usec").unwrap_or(0);
        let limit = text("memory.max")
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        Ok(Usage {
            cpu: Duration::from_micros(usage_usec),
            memory_bytes: current,
            // `memory.peak` exists from Linux 5.19 on.
            memory_peak_bytes: text("memory.peak").ok().and_then(|t| t.trim().parse().ok()),
            memory_limit_bytes: limit,
            memory_limit_hits: keyed("memory.events", "max"),
            tasks: text("pids.current")
                .ok()
                .and_then(|t| t.trim().parse().ok()),
        })
    }
}

impl CgroupSampler {
    /// A descriptor that becomes readable when the cgroup's OOM killer runs, so the cgroup can
    /// be read at that moment, its peak record and failure count still there, before it is
    /// removed: under v1 an eventfd registered on `memory.oom_control` through
    /// `cgroup.event_control`; under v2 an inotify watch of `memory.events`, which the kernel
    /// marks modified when its `max`, `oom` or `oom_kill` counts change. Drain it with reads of
    /// at least 4 KiB. `None` when the cgroup does not allow it.
    pub fn oom_events(&self) -> Option<std::os::fd::OwnedFd> {
        match &self.layout {
            Layout::V1 { memory, .. } => v1_oom_eventfd(memory),
            Layout::V2 { dir } => watch_modified(&dir.join("memory.events")),
        }
    }
}

fn v1_oom_eventfd(memory: &Path) -> Option<std::os::fd::OwnedFd> {
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we own.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let events = unsafe { OwnedFd::from_raw_fd(raw) };
    let control = std::fs::File::open(memory.join("memory.oom_control")).ok()?;
    let registration = format!("{} {}", events.as_raw_fd(), control.as_raw_fd());
    std::fs::OpenOptions::new()
        .write(true)
        .open(memory.join("cgroup.event_control"))
        .and_then(|mut f| f.write_all(registration.as_bytes()))
        .ok()?;
    // The kernel keeps its own reference to `memory.oom_control` once registered.
    Some(events)
}

/// An inotify descriptor that becomes readable when `file` is modified.
fn watch_modified(file: &Path) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(file.as_os_str().as_bytes()).ok()?;
    // SAFETY: inotify_init1 takes no pointers; a non-negative result is a new descriptor.
    let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let watch = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) };
    (watch >= 0).then_some(fd)
}

impl Sampler for CgroupSampler {
    fn source(&self) -> String {
        self.name.clone()
    }

    fn saved(&self) -> Option<SavedSampler> {
        Some(SavedSampler::Cgroup(self.clone()))
    }

    fn sample(&self) -> Result<Usage, ResourceError> {
        match &self.layout {
            Layout::V1 {
                memory,
                cpuacct,
                pids,
            } => self.sample_v1(memory, cpuacct.as_deref(), pids.as_deref()),
            Layout::V2 { dir } => self.sample_v2(dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_v1_container_cgroup_is_read_with_its_limit_peak_and_failures() {
        let root = fake_root(&[
            ("memory/docker/abc/memory.usage_in_bytes", "1048576\n"),
            ("memory/docker/abc/memory.max_usage_in_bytes", "4194304\n"),
            ("memory/docker/abc/memory.limit_in_bytes", "134217728\n"),
            ("memory/docker/abc/memory.failcnt", "5\n"),
            ("memory/docker/abc/memory.memsw.failcnt", "2\n"),
            ("cpu,cpuacct/docker/abc/cpuacct.usage", "2500000000\n"),
            ("pids/docker/abc/pids.current", "3\n"),
        ]);
        let text = "9:pids:/docker/abc\n4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/\n";
        let sampler = CgroupSampler::from_proc_cgroup(text, root.path()).expect("found");
        assert_eq!(sampler.source(), "cgroup v1 /docker/abc");
        let usage = sampler.sample().unwrap();
        assert_eq!(
            usage,
            Usage {
                cpu: Duration::from_millis(2500),
                memory_bytes: 1 << 20,
                memory_peak_bytes: Some(4 << 20),
                memory_limit_bytes: Some(128 << 20),
                memory_limit_hits: Some(7),
                tasks: Some(3),
            }
        );
    }

    #[test]
    fn a_v2_cgroup_is_read_and_no_limit_is_none() {
        let root = fake_root(&[
            ("system.slice/docker-abc.scope/memory.current", "2097152\n"),
            ("system.slice/docker-abc.scope/memory.max", "max\n"),
            (
                "system.slice/docker-abc.scope/memory.events",
                "low 0\nhigh 0\nmax 2\noom 1\n",
            ),
            (
                "system.slice/docker-abc.scope/cpu.stat",
                "usage_usec 1500\nuser_usec 1000\n",
            ),
        ]);
        let sampler =
            CgroupSampler::from_proc_cgroup("0::/system.slice/docker-abc.scope\n", root.path())
                .expect("found");
        let usage = sampler.sample().unwrap();
        assert_eq!(usage.cpu, Duration::from_micros(1500));
        assert_eq!(usage.memory_bytes, 2 << 20);
        assert_eq!(usage.memory_limit_bytes, None);
        assert_eq!(usage.memory_limit_hits, Some(2));
        assert_eq!(
            usage.memory_peak_bytes, None,
            "no memory.peak before Linux 5.19"
        );
    }

    #[test]
    fn a_v2_cgroup_signals_a_change_of_its_memory_events() {
        use std::os::fd::AsRawFd;
        let root = fake_root(&[("app.scope/memory.events", "max 0\noom 0\noom_kill 0\n")]);
        let sampler = CgroupSampler::from_proc_cgroup("0::/app.scope\n", root.path()).unwrap();
        let events = sampler.oom_events().expect("an inotify watch");
        let readable = |timeout_ms: i32| {
            let mut poll = libc::pollfd {
                fd: events.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut poll, 1, timeout_ms) == 1 }
        };
        assert!(!readable(0), "nothing changed yet");
        std::fs::write(
            root.path().join("app.scope/memory.events"),
            "max 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert!(readable(5000), "the change is signalled");
    }

    #[test]
    fn a_removed_cgroup_is_gone() {
        let root = fake_root(&[("memory/docker/abc/memory.usage_in_bytes", "1\n")]);
        let sampler =
            CgroupSampler::from_proc_cgroup("4:memory:/docker/abc\n", root.path()).unwrap();
        std::fs::remove_dir_all(root.path().join("memory/docker/abc")).unwrap();
        assert!(matches!(sampler.sample(), Err(ResourceError::Gone { .. })));
    }
}
