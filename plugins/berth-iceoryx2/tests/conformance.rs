//! The iceoryx2 transport runs the whole conformance suite on real shared memory.

berth_transport::transport_conformance_tests!(berth_iceoryx2::Iceoryx2Transport::new);
