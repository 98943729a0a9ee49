//! Names of sessions and channels, validated once so every later use is infallible.

use std::fmt;

use crate::TransportError;

/// A session identifier: 1–32 characters of `[a-z0-9]`, unique per running session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// Validates `id` as a session id.
    pub fn new(id: impl Into<String>) -> Result<Self, TransportError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= 32
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(Self(id))
        } else {
            Err(TransportError::InvalidName {
                name: id,
                rule: "a session id is 1-32 characters of [a-z0-9]",
            })
        }
    }

    /// A fresh random session id of 8 hex digits.
    pub fn random() -> Self {
        Self(format!("{:08x}", fastrand::u32(..)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a channel carries for its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelRole {
    /// Frames into the node from the host (pipeline inputs).
    Input,
    /// Frames the node produces.
    Output,
    /// Control messages from the node to the host (ready, error, stopped).
    Control,
}

impl ChannelRole {
    /// The suffix of the channel name.
    pub fn suffix(self) -> &'static str {
        match self {
            ChannelRole::Input => "input",
            ChannelRole::Output => "output",
            ChannelRole::Control => "control",
        }
    }
}

/// A channel name: `{session_id}_{node_id}_{input|output|control}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChannelName {
    name: String,
    session: SessionId,
}

impl ChannelName {
    /// The channel of `node_id` with `role` in `session`; `node_id` must match `[A-Za-z0-9_-]+`.
    pub fn new(
        session: &SessionId,
        node_id: &str,
        role: ChannelRole,
    ) -> Result<Self, TransportError> {
        let valid = !node_id.is_empty()
            && node_id.len() <= 64
            && node_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(TransportError::InvalidName {
                name: node_id.to_owned(),
                rule: "a node id is 1-64 characters of [A-Za-z0-9_-]",
            });
        }
        Ok(Self {
            name: format!("{session}_{node_id}_{}", role.suffix()),
            session: session.clone(),
        })
    }

    /// The full channel name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The session the channel belongs to.
    pub fn session(&self) -> &SessionId {
        &self.session
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_follow_the_session_node_role_scheme() {
        let session = SessionId::new("5f3a9c01").unwrap();
        let name = ChannelName::new(&session, "gain-1", ChannelRole::Output).unwrap();
        assert_eq!(name.as_str(), "5f3a9c01_gain-1_output");
        assert_eq!(name.session(), &session);
    }

    #[test]
    fn unusable_ids_are_rejected() {
        let session = SessionId::random();
        assert!(ChannelName::new(&session, "a b", ChannelRole::Input).is_err());
        assert!(ChannelName::new(&session, "", ChannelRole::Input).is_err());
        assert!(SessionId::new("UPPER").is_err());
        assert!(SessionId::new("").is_err());
    }

    #[test]
    fn random_session_ids_differ() {
        let a = SessionId::random();
        let b = SessionId::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 8);
    }
}
