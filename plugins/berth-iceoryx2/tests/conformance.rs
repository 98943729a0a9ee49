//! The iceoryx2 transport runs the whole conformance suite on real shared memory, with each
//! way of waking readers.
//!
//! A send allocates once: iceoryx2 0.10 puts the shared state of every loaned sample
//! (`ChunkMutSharedState`) in an `Arc` of its own. Berth's side of a send, and every receive,
//! allocate nothing.

#[global_allocator]
static ALLOCATOR: berth_transport::conformance::CountingAllocator =
    berth_transport::conformance::CountingAllocator;

use berth_iceoryx2::{Doorbell, Iceoryx2Transport};

mod fifo_doorbells {
    use super::*;
    berth_transport::transport_conformance_tests!(
        || Iceoryx2Transport::new().with_doorbell(Doorbell::Fifo),
        sends_allocate: 1
    );
}

mod event_service {
    use super::*;
    berth_transport::transport_conformance_tests!(
        || Iceoryx2Transport::new().with_doorbell(Doorbell::Event),
        sends_allocate: 1
    );
}
