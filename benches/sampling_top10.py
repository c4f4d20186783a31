"""Issue 11's top-10 check: the full recording's top 10 sites by allocated bytes against the
sampled recording's estimates, with each estimate's standard error (sites[].estimate, FORMAT.md
"The error of an estimate"). Sites are matched by their symbolized frames; sites whose frames read
the same are summed (their variances add).

    python3 benches/sampling_top10.py FULL.json SAMPLED.json
"""
import json
import math
import sys


def load(p):
    d = json.load(open(p))
    fr = d["frames"]
    out = {}
    for s in d["sites"]:
        key = tuple((fr[i]["function"], fr[i]["line"]) for i in s["frames"])
        a = out.setdefault(key, {"bytes": 0, "allocs": 0, "var": 0.0, "samples": 0})
        a["bytes"] += s["allocated_bytes"]
        a["allocs"] += s["allocations"]
        e = s.get("estimate")
        if e:
            a["var"] += e["allocated_bytes_se"] ** 2
            a["samples"] += e["samples"]
    return d, out


fd, full = load(sys.argv[1])
sd, samp = load(sys.argv[2])
interval = sd["sampling"]["interval_bytes"]
print("full: %d sites listed of %d; sampled: %d of %d; sampled mode %s interval %s" % (
    len(fd["sites"]), fd["stacks"]["sites"], len(sd["sites"]), sd["stacks"]["sites"], sd["sampling"]["mode"], sd["sampling"]["interval_bytes"]))
print("summary allocated bytes: full %d, sampled (exact totals) %d" % (fd["summary"]["total_allocated_bytes"], sd["summary"]["total_allocated_bytes"]))
print()
print("| # | site (innermost non-plumbing frame) | full allocated bytes | sampled estimate | error | se (or, with no sample, the 95% bound) | samples | exact within the bound | within ±10% |")
print("|---|---|---|---|---|---|---|---|---|")
worst = 0
within_10 = within_ci = 0
rows = sorted(full.items(), key=lambda kv: -kv[1]["bytes"])[:10]
for i, (k, v) in enumerate(rows):
    e = samp.get(k, {"bytes": 0, "var": 0.0, "samples": 0})
    err = e["bytes"] / v["bytes"] - 1
    se = math.sqrt(e["var"])
    se_rel = se / e["bytes"] if e["bytes"] else float("inf")
    ok_ci = abs(e["bytes"] - v["bytes"]) <= 1.96 * se
    if e["samples"] == 0:
        # No sample: P(no sample in B bytes) = exp(-B/interval), so B <= interval * ln(20) at 95%.
        ok_ci = v["bytes"] <= interval * math.log(20)
    ok_10 = abs(err) <= 0.10
    within_ci += ok_ci
    within_10 += ok_10
    worst = max(worst, abs(err))
    name = next((f for f, l in k if not any(p in f for p in ("alloc::", "core::", "std::", "hashbrown::", "__rust"))), k[0][0] if k else "?")
    few = " (few)" if e["samples"] < 20 else ""
    se_text = f"±{se_rel*100:.1f}%" if e["samples"] else f"none: ≤ {interval * math.log(20) / 1e6:.2f} MB at 95%"
    print(f"| {i+1} | `{name}` | {v['bytes']:,} | {e['bytes']:,} | {err*100:+.1f}% | {se_text} | {e['samples']:,}{few} | {'yes' if ok_ci else 'NO'} | {'yes' if ok_10 else 'no'} |")
print(f"\nworst |error| over the top 10: {worst*100:.1f}% (target ±10%); {within_10} of {len(rows)} within ±10%; "
      f"the exact figure within ±1.96·se (or, for a site with no sample, within interval·ln 20) for {within_ci} of {len(rows)} "
      f"(about 95% expected where a site has 20 samples or more; rough below)")
