"""The seed paper's Section IV experiments, measured from packet timestamps.

Three parts that meet only on disk:

* the runner drives a testbed through handovers with live traffic and writes
  runs; the testbed is a :class:`.labs.Lab`: the namespace one of
  :mod:`pmip6d_lab.nsdomain` (:class:`.labs.NamespaceLab`, one per scenario, built by
  :mod:`.namespace_run`) or a deployed lab described by an Ansible inventory — the
  emulated podman lab of ``inventories/emulated`` (:class:`.podmanlab.PodmanLab`,
  configured per scenario by ``playbooks/experiment.yml``, one run per call of
  :mod:`.lab_run`). Both do each run with :func:`.handover.run_handover`, which
  uses :mod:`.air` (the APs' radio side), :mod:`.captures` (dumpcap) and
  :mod:`.traffic` (iperf3), as :mod:`.settings` asks;
* :mod:`.analysis` (pure) turns one run directory into the paper's metrics;
* :mod:`.report` writes ``results.csv``/``results.json`` and ``report.md`` (our
  Table II beside the paper's, handover latency and TCP stall per scenario) with
  the figures after the paper's Figs. 5–10 that :mod:`.plots` draws; the paper's
  own figures both compare against are in :mod:`.paper`.

CLI: ``python -m pmip6d_lab.experiment {run,analyze,report,summary} DIR`` for the namespace
testbed and the results; ``facts``, ``mobile-nodes``, ``plan``, ``prepare`` and
``run-one`` for an inventory's lab (what the playbook calls; see ``--help``).

Run layout
==========

::

    <out>/
      settings.json                   what the runner was asked (rates, windows, counts)
      results.json  results.csv       one row per complete run, every metric (``analyze``)
      report.md  fig*.png             the report and its figures (``report``)
      lab.json                        an inventory lab's facts, as the runs read them
      durations.json                  scripts/lab.sh's steps, seconds, host, kernel (Set-up)
      scenario-<S>/                   S = 1, 2, 3: the paper's scenarios
        testbed-logs/                 the agents' logs of the last testbed built for it
        run-<NN>-<kind>/              NN = 01, 02 …; kind = udp | tcp | both
          meta.json                   what happened, see below
          <host>-<interface>.pcap     captures (libpcap), one per capture point
          iperf3-client.json          the traffic tool's own output (CN side, --json)
          iperf3-server.json          … and the MN side
          iperf3-udp-client.json …    kind both: the same per flow (udp, tcp)
          error.txt                   only if the runner failed in this run
          done                        written last: the run is complete

A run directory without ``done`` is incomplete (interrupted or failed): the
analysis ignores it and the runner wipes and redoes it, so an experiment is
resumed by running it again.

Capture points (``meta.json`` → ``captures``: file, host, interface, role):

========  ==============================================================
role      where, and what the analysis reads there
========  ==============================================================
access    each MAG's access interface: Router Advertisements to the MN
          leaving; the AP's syslog arriving (L2 trigger) when the APs
          send it over the access link
syslog    each MAG's link its APs' syslog comes over, when that is not
          the access interface (the podman lab's mgmt0): the L2 trigger
core      each MAG's core interface (PBU out, PBA in, tunnel) and the
          LMA's core interface (host ``lma``); the signaling inside ESP
          is opened with ``esp-sas.json`` (the run's SAs, mode 0600)
mn        the MN's interface: the traffic as the MN receives it
cn        the CN's interface: the traffic as the CN sends it
========  ==============================================================

``meta.json`` (schema 1) holds at least:

* ``scenario`` (1 | 2 | 3), ``scenario_name``, ``run`` (NN), ``kind`` ("udp" | "tcp" |
  "both": a UDP stream and a TCP transfer at once, on two ports, through one handover);
* ``testbed``: kind ("namespaces" | "podman"), shared_addresses, tunnels (static | dynamic),
  and for a podman lab the inventory, the containers and what the agents reported;
* ``mn``: name, mac, mn_id (NAI), address (from its home network prefix), hnp,
  interface; ``cn``: address, interface; ``lma``: address, core_interface;
* ``mags``: per MAG its Proxy-CoA ``address``, ``core_interface``,
  ``access_interface``, ``access_address``, its ``ap``;
* ``aps``: per AP its ``mag``, ``bssid``, ``address`` (the syslog source);
  ``syslog_port``;
* ``handover``: from_ap, to_ap, from_mag, to_mag, ``moved_at`` (Unix time the
  MN's radio link was in the new AP; ``move_started_at`` just before the move
  was requested, when known), reassoc_sent_at, roamed_sent_at, method;
* ``traffic``: tool, direction ("cn->mn"), port, rate_bps, length (UDP
  payload octets), before_s and after_s around the move, started_at,
  ``stopped_at`` (end of observation), client_exit (completed | interrupted); in a
  run of kind both the per-flow values (port, rate_bps, length, after_s, client_exit,
  the iperf3 output files …) are in ``traffic.flows.udp`` and ``traffic.flows.tcp``;
* ``captures``: file, host, interface, role, and dumpcap's received/dropped counts.

Times are Unix seconds on the clock the captures use (one kernel here; in a
lab of several machines their clocks must be synchronized).
"""
