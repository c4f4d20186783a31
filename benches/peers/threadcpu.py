#!/usr/bin/env python3
"""Per-thread CPU of a command, for any build (no help from the program needed).

    benches/peers/threadcpu.py [--json FILE] COMMAND...

Runs COMMAND and polls /proc/PID/task/*/ every 10 ms, keeping for each thread
the last user and system CPU time (utime, stime) and context
switches (voluntary, involuntary) it read. A thread that exits between two
polls loses at most 10 ms of CPU in the totals (a process whose threads live
as long as the job, such as examples/index_registry.rs, loses none of note).
Prints one line per thread name (threads of the same name summed): CPU s,
voluntary and involuntary switches; and the wall time. COMMAND's own output
passes through.
"""
import json
import os
import subprocess
import sys
import time

args = sys.argv[1:]
out_json = None
if args[:1] == ["--json"]:
    out_json, args = args[1], args[2:]
if not args:
    sys.exit(__doc__)
tick = os.sysconf("SC_CLK_TCK")
t0 = time.monotonic()
p = subprocess.Popen(args)
seen = {}  # tid -> (comm, cpu ticks, voluntary, involuntary)


def poll():
    base = f"/proc/{p.pid}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        return
    for tid in tids:
        try:
            with open(f"{base}/{tid}/stat") as f:
                stat = f.read()
            with open(f"{base}/{tid}/status") as f:
                status = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]), int(fields[12]))  # utime, stime (fields 14, 15 of stat(5))
        vol = invol = 0
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                vol = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                invol = int(line.split()[1])
        seen[tid] = (comm, cpu, vol, invol)


while p.poll() is None:
    poll()
    time.sleep(0.01)
wall = time.monotonic() - t0
by = {}
for comm, cpu, vol, invol in seen.values():
    c = by.setdefault(comm, [0, 0, 0, 0, 0])
    c[0] += cpu[0] / tick
    c[1] += cpu[1] / tick
    c[2] += vol
    c[3] += invol
    c[4] += 1
print(f"threadcpu: wall {wall:.3f} s, exit {p.returncode}", file=sys.stderr)
for comm, (user, system, vol, invol, n) in sorted(by.items()):
    print(
        f"threadcpu: {comm:16} x{n}  cpu {user + system:7.2f} s (user {user:6.2f}, sys {system:6.2f})  switches {vol:>9} voluntary {invol:>9} involuntary",
        file=sys.stderr,
    )
if out_json:
    with open(out_json, "w") as f:
        json.dump({"wall": wall, "exit": p.returncode, "threads": {k: {"user": v[0], "sys": v[1], "voluntary": v[2], "involuntary": v[3], "count": v[4]} for k, v in by.items()}}, f)
sys.exit(p.returncode)
