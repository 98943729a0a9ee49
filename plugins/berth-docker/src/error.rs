//! Turning Docker Engine errors into [`BackendError`]s that say what to do.

use berth_backend::BackendError;
use bollard::errors::Error as DockerError;

/// The backend name used in every error.
pub(crate) const BACKEND: &str = "docker";

/// How to bring the daemon back, for errors that mean it is gone.
pub(crate) const START_DAEMON: &str =
    "start the Docker daemon (`systemctl start docker`), or point DOCKER_HOST at a running one";

/// An [`BackendError::Operation`] for `operation` on `target`, with a hint where one helps.
pub(crate) fn operation_error(
    operation: &'static str,
    target: impl Into<String>,
    err: &DockerError,
) -> BackendError {
    BackendError::Operation {
        backend: BACKEND,
        operation,
        target: target.into(),
        detail: describe(err),
    }
}

/// The daemon's message plus what to do about it.
pub(crate) fn describe(err: &DockerError) -> String {
    match err {
        DockerError::DockerResponseServerError {
            status_code: 404,
            message,
        } => format!("{message} (it does not exist: it was removed, or never created)"),
        DockerError::DockerResponseServerError {
            status_code: 409,
            message,
        } => format!("{message} (conflicting state; `berth` sweeps leftovers with `sweep`)"),
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } if *status_code >= 500 => format!(
            "the Docker daemon failed ({status_code}): {message}; fix: check the daemon's log \
             (`journalctl -u docker`)"
        ),
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } => format!("the Docker daemon refused the request ({status_code}): {message}"),
        DockerError::RequestTimeoutError => {
            format!("the Docker daemon did not answer in time; fix: {START_DAEMON}")
        }
        DockerError::HyperResponseError { .. }
        | DockerError::HyperLegacyError { .. }
        | DockerError::IOError { .. }
        | DockerError::SocketNotFoundError(_) => format!(
            "lost the connection to the Docker daemon ({}); fix: {START_DAEMON}",
            with_causes(err)
        ),
        other => other.to_string(),
    }
}

/// `err` followed by its causes (`client error (Connect): Connection refused (os error 111)`).
pub(crate) fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether the daemon said the object does not exist.
pub(crate) fn is_not_found(err: &DockerError) -> bool {
    matches!(
        err,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_objects_and_lost_daemons_read_as_such() {
        let gone = DockerError::DockerResponseServerError {
            status_code: 404,
            message: "No such container: abc".into(),
        };
        assert!(is_not_found(&gone));
        assert!(describe(&gone).contains("does not exist"));
        let timeout = describe(&DockerError::RequestTimeoutError);
        assert!(timeout.contains("systemctl start docker"), "{timeout}");
        let err = operation_error("stop", "berth-x", &gone);
        assert!(
            err.to_string()
                .contains("docker backend: stop failed for `berth-x`")
        );
    }
}
