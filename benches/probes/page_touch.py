"""What a page costs when it was last touched a while ago: reads one byte from each of N
distinct 4 KiB pages (one C loop, `bytes(view[::4096])`), timed back to back and after a
20 ms sleep, for N from 1 to 1024. If the paced slowdown is per page touched (the TLB, or a
hypervisor's shadow page tables, emptied while the thread slept), the cold time grows with N
at a steady cost per page; if it is a fixed price of waking up, it does not.
`python3 benches/probes/page_touch.py`."""

import statistics
import time

PAGE = 4096
ROUNDS = 200
SIZES = (1, 4, 16, 64, 256, 1024)
BUFFER = bytearray(PAGE * max(SIZES))
VIEW = memoryview(BUFFER)
for offset in range(0, len(BUFFER), PAGE):  # every page present before timing
    BUFFER[offset] = 1


def touch(pages: int) -> int:
    view = VIEW[: pages * PAGE : PAGE]
    started = time.perf_counter_ns()
    bytes(view)
    return time.perf_counter_ns() - started


def median_us(pages: int, pause_s: float) -> float:
    times = []
    for _ in range(ROUNDS):
        if pause_s:
            time.sleep(pause_s)
        else:
            touch(pages)  # the same pages once before, so the timed pass is warm
        times.append(touch(pages))
    return statistics.median(times) / 1000


def main() -> None:
    print("pages | back to back (us) | after 20 ms sleep (us) | cold - warm per page (ns)")
    for pages in SIZES:
        warm = median_us(pages, 0)
        cold = median_us(pages, 0.02)
        print(f"{pages:5} | {warm:17.2f} | {cold:22.2f} | {(cold - warm) * 1000 / pages:9.0f}")


if __name__ == "__main__":
    main()
