"""CPU threads of training processes: how many each gets, and how idle ones wait.

torch runs its CPU kernels on OpenMP threads, which by default spin while they wait for
work. Spinning threads that outnumber the free cores steal them from the threads with
work: on 2 cores beside two busy programs, a 2-thread seed000-fc step took 5 to 9 times
as long as a 1-thread one. Told to sleep (OMP_WAIT_POLICY=PASSIVE), the 2-thread step was
as fast as the 1-thread one there; on an idle machine sleeping cost the reference DCGAN
nothing and seed000-fc a third of its 2-thread speed (BENCHMARKS.md, "CPU threads").
Nothing here imports torch: OpenMP reads its environment when torch is first imported.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping


def sleeping_openmp(env: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """Idle OpenMP threads sleep instead of spinning, unless OMP_WAIT_POLICY says otherwise.
    Takes effect in a process that has not imported torch yet (or in a child's ``env``)."""
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def threads_per_process(processes: int = 1) -> int:
    """torch's intra-op threads for each of ``processes`` training processes on this
    machine: the cores shared out, at least one each. OMP_NUM_THREADS, when set, wins."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // processes)
