//! What a long step (a build, a download) tells its caller while it runs: the step it is in,
//! and each line of output.

use std::fmt;

/// A step of making something Berth caches (mostly images). A step ends when the next one
/// begins or the call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Waiting for another process that builds the same image.
    Wait,
    /// Making a Debian root filesystem with `mmdebstrap`.
    RootFilesystem,
    /// Importing a root filesystem tarball into Docker.
    Import,
    /// Downloading Python wheels on the host.
    Wheels,
    /// Building a Python wheel from source on the host.
    SourceWheel,
    /// Downloading Debian packages on the host.
    SystemPackages,
    /// Pulling an image from a registry.
    Pull,
    /// Running the Docker build.
    Build,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Wait => "wait",
            Step::RootFilesystem => "root filesystem",
            Step::Import => "import",
            Step::Wheels => "wheel download",
            Step::SourceWheel => "wheel from source",
            Step::SystemPackages => "Debian packages",
            Step::Pull => "pull",
            Step::Build => "build",
        })
    }
}

/// Receives a build's progress. Any `Fn(&str) + Sync` closure is one: it gets each step as a
/// line `"<step>: <what>"` and every output line as it is.
pub trait Progress: Sync {
    /// A new step begins; `what` names its subject (an image tag, a package list).
    fn step(&self, step: Step, what: &str) {
        self.line(&format!("{step}: {what}"));
    }
    /// One line of output of the current step.
    fn line(&self, line: &str);
}

impl<F: Fn(&str) + Sync> Progress for F {
    fn line(&self, line: &str) {
        self(line)
    }
}

/// Progress that goes nowhere.
pub struct Quiet;

impl Progress for Quiet {
    fn line(&self, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn closures_receive_steps_as_lines() {
        let seen = Mutex::new(Vec::new());
        let sink = |l: &str| seen.lock().unwrap().push(l.to_owned());
        let p: &dyn Progress = &sink;
        p.step(Step::Build, "berth/python:3.11");
        p.line("Step 1/3");
        assert_eq!(
            *seen.lock().unwrap(),
            ["build: berth/python:3.11", "Step 1/3"]
        );
    }
}
