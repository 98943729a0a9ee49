//! The in-memory transport runs the whole conformance suite.

berth_transport::transport_conformance_tests!(berth_transport::memory::MemoryTransport::new);
