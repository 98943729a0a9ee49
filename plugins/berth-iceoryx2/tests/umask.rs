//! Receivers created on many threads at once leave the process's umask as it was. (iceoryx2
//! binds each listener's socket under a temporary process-wide umask; interleaved, two binds
//! could leave 0177 behind, and every folder made afterwards would be unsearchable.) Its own
//! test binary: the umask belongs to the whole process.

use berth_transport::{ChannelName, ChannelRole, SessionId, Transport, TransportConfig};

fn umask_now() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Umask:").map(|m| m.trim().to_owned()))
        .expect("the kernel reports the umask")
}

#[test]
fn receivers_made_on_many_threads_leave_the_umask_alone() {
    // SAFETY: plain syscall; nothing else in this binary depends on the umask meanwhile.
    unsafe { libc::umask(0o022) };
    let transport = berth_iceoryx2::Iceoryx2Transport::new();
    let session = SessionId::random();
    let channels = transport
        .open_session(&session, &TransportConfig::default())
        .unwrap();
    let names: Vec<ChannelName> = (0..8)
        .map(|i| ChannelName::new(&session, &format!("n{i}"), ChannelRole::Output).unwrap())
        .collect();
    for name in &names {
        channels.create_channel(name).unwrap();
    }
    std::thread::scope(|scope| {
        for name in &names {
            let channels = &channels;
            scope.spawn(move || {
                for _ in 0..100 {
                    drop(channels.receiver(name).unwrap());
                }
            });
        }
    });
    assert_eq!(
        umask_now(),
        "0022",
        "a bind left its temporary umask behind"
    );
    drop(channels);
    assert!(transport.session_resources(&session).is_empty());
}
