//! Where a session's iceoryx2 files live: beside its segments in `/dev/shm` (tmpfs, so creating
//! a service costs no `fsync` to a disk), each listed once, all removed by a sweep.

use std::collections::BTreeSet;
use std::path::Path;

use berth_transport::{ChannelName, ChannelRole, SessionId, Transport, TransportConfig};

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

    let session = SessionId::random();
    let channels = transport
        .open_session(&session, &TransportConfig::default())
        .unwrap();
    let name = ChannelName::new(&session, "n", ChannelRole::Output).unwrap();
    channels.create_channel(&name).unwrap();
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
