//! Where a session's iceoryx2 files live: beside its segments in `/dev/shm` (tmpfs, so creating
//! a service costs no `fsync` to a disk), each listed once, all removed by a sweep.

use std::collections::BTreeSet;
use std::path::Path;

use berth_transport::{
    ChannelName, ChannelRole, FrameKind, FrameSenderExt, SessionId, SessionTransport, Transport,
    TransportConfig,
};

/// A new session of `transport` with one channel, created.
fn one_channel(
    transport: &berth_iceoryx2::Iceoryx2Transport,
    role: ChannelRole,
) -> (SessionId, Box<dyn SessionTransport>, ChannelName) {
    let session = SessionId::random();
    let channels = transport
        .open_session(&session, &TransportConfig::default())
        .unwrap();
    let name = ChannelName::new(&session, "n", role).unwrap();
    channels.create_channel(&name).unwrap();
    (session, channels, name)
}

#[test]
fn a_sessions_files_live_in_dev_shm_and_are_listed_once() {
    let transport = berth_iceoryx2::Iceoryx2Transport::new();
    let root = transport.root_path();
    assert!(
        root.starts_with("/dev/shm"),
        "the iceoryx2 root {} is not on /dev/shm's tmpfs",
        root.display()
    );
    assert_eq!(
        transport.shared_paths(),
        vec![Path::new("/dev/shm").to_path_buf()],
        "a root inside /dev/shm needs no bind of its own"
    );

    let (session, channels, name) = one_channel(&transport, ChannelRole::Output);
    let receiver = channels.receiver(&name).unwrap();
    let sender = channels.sender(&name).unwrap();

    let listed = transport.session_resources(&session);
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "listed twice: {listed:?}");
    assert!(
        listed.iter().any(|p| Path::new(p).starts_with(root)),
        "no service or node file under the root: {listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|p| Path::new(p).parent() == Some(Path::new("/dev/shm"))),
        "no segment in /dev/shm: {listed:?}"
    );

    // Ports never closed, as a killed host leaves them: the sweep takes what they hold.
    std::mem::forget(sender);
    std::mem::forget(receiver);
    std::mem::forget(channels);
    let removed = transport.sweep_session(&session).unwrap();
    assert!(removed > 0, "the sweep removed nothing");
    assert!(
        transport.session_resources(&session).is_empty(),
        "left behind: {:?}",
        transport.session_resources(&session)
    );
}

#[test]
fn a_root_of_its_own_is_shared_beside_dev_shm_and_swept() {
    let root = std::env::temp_dir().join(format!("berth-root-{}", SessionId::random()));
    let transport = berth_iceoryx2::Iceoryx2Transport::with_root(&root);
    assert_eq!(transport.root_path(), root.as_path());
    assert_eq!(
        transport.shared_paths(),
        vec![root.clone(), Path::new("/dev/shm").to_path_buf()],
        "a root outside /dev/shm is bound too"
    );

    let (session, channels, name) = one_channel(&transport, ChannelRole::Input);
    let mut sender = channels.sender(&name).unwrap();
    let mut receiver = channels.receiver(&name).unwrap();
    sender.send_bytes(FrameKind::Text, b"hi", 1).unwrap();
    let mut got = Vec::new();
    receiver
        .receive_with(std::time::Duration::from_secs(5), &mut |_, payload| {
            got.extend_from_slice(payload)
        })
        .unwrap()
        .expect("the frame arrives");
    assert_eq!(got, b"hi");

    let listed = transport.session_resources(&session);
    assert!(
        listed.iter().any(|p| Path::new(p).starts_with(&root)),
        "no file under {}: {listed:?}",
        root.display()
    );
    std::mem::forget((sender, receiver, channels));
    transport.sweep_session(&session).unwrap();
    assert!(
        transport.session_resources(&session).is_empty(),
        "left behind: {:?}",
        transport.session_resources(&session)
    );
    std::fs::remove_dir_all(&root).unwrap();
}
