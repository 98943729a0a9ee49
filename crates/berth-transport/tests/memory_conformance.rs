//! The in-memory transport runs the whole conformance suite.

#[global_allocator]
static ALLOCATOR: berth_transport::conformance::CountingAllocator =
    berth_transport::conformance::CountingAllocator;

berth_transport::transport_conformance_tests!(berth_transport::memory::MemoryTransport::new);
