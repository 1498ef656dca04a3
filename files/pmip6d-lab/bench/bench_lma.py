"""Throughput and latency of one real ``pmip6d lma`` under many emulated MAGs.

Run as root with the project's virtualenv::

    /work/main/.venv/bin/python files/pmip6d-lab/bench/bench_lma.py --mns 10000 100000

What it does, for every size N given with ``--mns``:

1. Two network namespaces of its own (named after this process id) joined by a
   veth: one for the LMA side, one for the load generator, which owns ``--mags``
   MAG addresses (64 by default). Configuration files go to a temporary folder.
2. A load generator (this file, ``--worker gen``, run with ``ip netns exec`` in
   the generator namespace) encodes one Proxy Binding Update per mobile node
   with :func:`pmip6d.wire.encode` (NAI MN-ID, MAC, HNP ::/0, Handoff Indicator,
   ATT 4, link-local address, timestamp). At send time it only patches the
   timestamp and the sequence number in place and sends with ``sendmsg`` and
   ``IPV6_PKTINFO`` from the MN's MAG address. It keeps ``--window`` PBUs
   outstanding, matches every PBA by (MN-ID, sequence number), counts statuses
   other than 0 as rejected and PBAs missing after ``--timeout`` as lost.
3. BASELINE: a null responder (``--worker null``: a bare raw-socket loop that
   answers every PBU with one pre-encoded PBA, patching in the sequence number
   and echoing the MN-ID, no state) in the LMA namespace, driven by the same
   generator. It is the ceiling of this harness, the kernel and Python sockets.
4. The real LMA, unmodified (``pmip6d lma -c lma.yml``, pool 2001:db8::/32 of
   /64s, serve_unlisted, every MAG accepted), driven through the phases
   ``register`` (new bindings, HI 1), ``refresh`` (same MAG, HI 5, the HNP the
   LMA assigned: lifetime extension) and ``handover`` (next MAG address, HI 3,
   same HNP), then ``probe``: ``--probe`` refreshes one at a time (window 1),
   the unloaded PBA latency. After each phase the LMA's RSS is read from /proc
   and ``pmipctl status`` must report N bindings.

Generator and target are pinned to different CPUs (``--no-pin`` to not), the
neighbour entries are static (no NDP in the measured path), and before each
phase the script waits for the host to be quiet: the CPU used meanwhile by
processes that are not part of the run is reported per phase (``oth%``),
because a shared host skews the numbers.

Everything is torn down at the end, also on an error, Ctrl-C or SIGTERM.
``--json FILE`` saves all numbers; ``--profile DIR`` attaches ``py-spy`` to the
LMA during every phase (or runs it under cProfile with ``--profiler cprofile``)
and prints its hottest functions; ``--lma-pythonpath DIR`` runs the LMA from
another source tree (e.g. a copy with a change applied) to compare.

Durable bindings (``lma_bench/crash.py``): ``--durable both`` runs the LMA of each
size twice, ``durable_state`` off then on (each with its own ``state_file``), and
prints the on/off ratio of every phase; ``--crash`` then kills the durable LMA
with SIGKILL and times its restart until it serves every binding again;
``--dataplane ebpf`` gives the LMA real routes (one per binding), which the
restart must reinstall too::

    files/pmip6d-lab/bench/bench_lma.py --mns 100000 --durable both --crash \
        --dataplane ebpf --probe 0 --no-baseline

The agent's own ESP on the signaling (``lma_bench/esp.py``): ``--esp both`` runs the
LMA of each size without, then with ``signaling_security`` (implementation agent,
one SA pair per emulated MAG); the generator seals its PBUs and opens the PBAs with
pmip6d.security.esp, and the on/off ratio of every phase is printed::

    files/pmip6d-lab/bench/bench_lma.py --mns 100000 --esp both --probe 0 --no-baseline

The code is in :mod:`lma_bench` beside this file: :mod:`~lma_bench.generator` (the load
generator), :mod:`~lma_bench.null_responder` (the baseline), :mod:`~lma_bench.processes`
(namespaces, the LMA under test and the workers as child processes),
:mod:`~lma_bench.measure` (one size: the phases and what is measured around them),
:mod:`~lma_bench.profiling`, :mod:`~lma_bench.crash` (durability variants, kill -9),
:mod:`~lma_bench.report` (the printed table) and
:mod:`~lma_bench.cli`; :mod:`~lma_bench.protocol` is what they share. Performance
findings made with it: ``docs/performance.md``.
"""

from __future__ import annotations

import importlib.util
import sys

if __name__ == "__main__":
    if importlib.util.find_spec("pmip6d") is None:  # a usage error: one line, no traceback
        print(
            "bench_lma: cannot import pmip6d; run with the project's venv python, e.g. "
            "/work/main/.venv/bin/python files/pmip6d-lab/bench/bench_lma.py",
            file=sys.stderr,
        )
        sys.exit(2)
    from lma_bench.cli import main

    sys.exit(main())
