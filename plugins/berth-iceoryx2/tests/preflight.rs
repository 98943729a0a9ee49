//! Sessions whose channels could outgrow the free shared memory are refused before any node
//! starts, with the numbers and the fix.

use berth_transport::{
    ChannelName, ChannelRole, SessionId, Transport, TransportConfig, TransportError,
};

fn free_shm_bytes() -> u64 {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1", "/dev/shm"])
        .output()
        .expect("df runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df prints the free bytes of /dev/shm")
}

#[test]
fn a_session_too_big_for_dev_shm_is_refused_with_the_numbers() {
    let transport = berth_iceoryx2::Iceoryx2Transport::new();
    let session = SessionId::random();
    // One frame a third of what is free: a full queue of them cannot fit.
    let config = TransportConfig {
        max_frame_bytes: usize::try_from(free_shm_bytes() / 3).unwrap(),
        ..TransportConfig::default()
    };
    let channels = transport.open_session(&session, &config).unwrap();
    let channel = ChannelName::new(&session, "big", ChannelRole::Output).unwrap();
    let err = channels.create_channel(&channel).unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::SharedMemoryTooSmall { channels: 1, .. }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("/dev/shm") && text.contains("MiB free"),
        "{text}"
    );
    assert!(
        text.contains("max_frame_bytes") && text.contains("remount"),
        "{text}"
    );
    drop(channels);
    assert!(transport.session_resources(&session).is_empty());

    // The default sizes fit.
    let ok = transport
        .open_session(&session, &TransportConfig::default())
        .unwrap();
    ok.create_channel(&channel).unwrap();
    drop(ok);
    let _ = transport.sweep_session(&session);
    assert!(transport.session_resources(&session).is_empty());
}
