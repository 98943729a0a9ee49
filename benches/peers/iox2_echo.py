"""The floor: a minimal Python echo over raw iceoryx2 (no Berth runner, no numpy).

    python iox2_echo.py PREFIX PING PONG MODE MAX_BYTES

Opens the pub-sub + event services PING and PONG that the host created (prefix PREFIX; a
`[u8]` payload with the 40-byte `BenchRawHeader` user header, alignment 8, safe overflow off),
and sends every frame of PING straight back on PONG: loan, copy the payload once, copy the
header, send, notify. MODE `spin` polls the subscriber without pause; `event` sleeps on the
listener until the host's notification wakes it. Prints "READY" once its ports exist and stops
cleanly (ports and node deleted) on a frame with flag bit 0, on SIGTERM, or when its parent dies.
"""

import ctypes
import signal
import sys

import iceoryx2 as iox2


class RawHeader(ctypes.Structure):
    _fields_ = [
        ("timestamp_ns", ctypes.c_uint64),
        ("sequence", ctypes.c_uint64),
        ("payload_len", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("reserved", ctypes.c_uint64),
    ]

    @staticmethod
    def type_name() -> str:
        return "BenchRawHeader"


STOP = 1
_stop = False


def _on_term(*_: object) -> None:
    global _stop
    _stop = True


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def main() -> int:
    _die_with_parent()
    signal.signal(signal.SIGTERM, _on_term)
    prefix, ping_name, pong_name, mode, max_bytes = sys.argv[1:6]
    spin = mode == "spin"
    config = iox2.config.default()
    config.global_cfg.prefix = iox2.FileName.new(prefix)
    node = (
        iox2.NodeBuilder.new()
        .name(iox2.NodeName.new("bench-echo"))
        .config(config)
        .signal_handling_mode(iox2.SignalHandlingMode.Disabled)
        .create(iox2.ServiceType.Ipc)
    )

    def open_service(name: str):
        service_name = iox2.ServiceName.new(name)
        data = (
            node.service_builder(service_name)
            .publish_subscribe(iox2.Slice[ctypes.c_uint8])
            .user_header(RawHeader)
            .payload_alignment(iox2.Alignment.new(8))
            .enable_safe_overflow(False)
            .open()
        )
        return data, node.service_builder(service_name).event().open()

    ping, ping_events = open_service(ping_name)
    pong, pong_events = open_service(pong_name)
    subscriber = ping.subscriber_builder().create()
    listener = ping_events.listener_builder().create()
    publisher = (
        pong.publisher_builder()
        .initial_max_slice_len(int(max_bytes))
        .allocation_strategy(iox2.AllocationStrategy.Static)
        .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
        .create()
    )
    notifier = pong_events.notifier_builder().create()
    # The bindings' public loan/assume_init re-check the payload type on every call; the
    # native methods they wrap are called directly, as Berth's runner does.
    loan = getattr(publisher, "__loan_slice_uninit", None) or publisher.loan_slice_uninit
    assume_init = getattr(iox2.SampleMutUninit, "__assume_init", None) or getattr(
        iox2.SampleMutUninit, "assume_init"
    )
    header_at = RawHeader.from_address
    memmove = ctypes.memmove
    receive = subscriber.receive
    wait = listener.timed_wait
    timeout = iox2.Duration.from_millis(100)
    print("READY", flush=True)

    while not _stop:
        sample = receive()
        if sample is None:
            if not spin:
                try:
                    wait(timeout)
                except Exception:
                    pass
            continue
        header = header_at(sample.user_header_ptr)
        if header.flags & STOP:
            sample.delete()
            break
        n = sample.header.number_of_elements
        out = loan(n)
        out_header = header_at(out.user_header_ptr)
        out_header.timestamp_ns = header.timestamp_ns
        out_header.sequence = header.sequence
        out_header.payload_len = n
        out_header.flags = 0
        if n:
            memmove(out.payload_ptr, sample.payload_ptr, n)
        sample.delete()
        assume_init(out).send()
        notifier.notify()

    for port in (notifier, publisher, listener, subscriber):
        port.delete()
    del ping, ping_events, pong, pong_events
    del node
    return 0


if __name__ == "__main__":
    sys.exit(main())
