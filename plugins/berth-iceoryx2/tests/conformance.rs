//! The iceoryx2 transport runs the whole conformance suite on real shared memory, with each
//! way of waking readers.

use berth_iceoryx2::{Doorbell, Iceoryx2Transport};

mod fifo_doorbells {
    use super::*;
    berth_transport::transport_conformance_tests!(|| {
        Iceoryx2Transport::new().with_doorbell(Doorbell::Fifo)
    });
}

mod event_service {
    use super::*;
    berth_transport::transport_conformance_tests!(|| {
        Iceoryx2Transport::new().with_doorbell(Doorbell::Event)
    });
}
