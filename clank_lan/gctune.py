"""The cyclic garbage collector, tuned once the appliance is up.

Why: CPython's generation-2 collection scans every tracked object in the process. After start-up
most of them are long-lived and never garbage (modules, the Medius message tables, the config,
the key tables, the TUI's widgets), yet a full collection walks them all on the one event-loop
thread, which holds every console and every relayed game frame: during a login storm one such
pause took about 70 ms of CPU (up to 340 ms of wall time on a busy machine), most of the DME
relay's p99 added latency (``bench/storm.py``). Once every service is bound, ``tune_once``
collects what start-up left behind and then freezes the survivors (``gc.freeze``: about 84,000
objects moved to a permanent generation the collector no longer scans), so a full collection
walks only objects made since (connections, sessions, worlds). That one collection costs 50-90 ms
once, before the engine reports itself up (``serve`` prints the setup text only after it).

``gc.freeze`` is process-global and cumulative, and a frozen object is never freed by the cycle
collector: freezing again for every engine a process starts (the tests start hundreds) would pin
each earlier engine's cycles forever. So it is done once per process, by the first engine that
starts; later calls do nothing.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("clank_lan.gctune")

#: The collector's thresholds (generation 0, 1, 2) once the appliance is up: CPython's for the
#: young generations, a full collection ten times rarer. What matters to the relay is the longest
#: single pause. Headless, the freeze alone removes the long one (the storm's full collection,
#: about 70 ms of CPU, no longer happens either way). Under the operator console it does not:
#: Textual keeps what it draws (each line of a log pane is a ``Strip`` with seven small caches,
#: about 16,000 of them with 2,300 lines), and with CPython's (700, 10, 10) the storm bench's
#: console phase ran 7 full collections (5 of them, 12-117 ms of CPU each, while the 200 consoles
#: logged in and chatted), each a stall of every game in the one thread. With (700, 10, 100):
#: none after start-up, relay p99 added under the console 70-167 ms against 91-424 ms (five runs
#: each, alternated), at 6-9 MiB more at the end (98 -> 104-107 MiB). Cyclic garbage still goes,
#: at every hundredth middle-generation collection instead of every tenth. Also measured with
#: ``bench/storm.py --gc-threshold`` and not adopted: generation 0 ten times larger
#: (7000, 10, 10) made young collections rarer but each longer (up to 8-14 ms of CPU against
#: 2-4 ms), no gain in the storm's relay figures.
THRESHOLDS: tuple[int, int, int] = (700, 10, 100)

_tuned = False


def tune_once() -> bool:
    """Collect, freeze what survives and set ``THRESHOLDS``, the first time in this process only
    (see the module's docstring); True when this call did it."""
    global _tuned
    if _tuned:
        return False
    _tuned = True
    t0 = time.perf_counter()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    log.debug(
        "gc: froze %d start-up objects in %.0f ms; thresholds %s",
        gc.get_freeze_count(),
        (time.perf_counter() - t0) * 1000,
        gc.get_threshold(),
    )
    return True


def skip() -> None:
    """Leave the collector as CPython set it (``bench/storm.py --gc off``, the comparison run)."""
    global _tuned
    _tuned = True

