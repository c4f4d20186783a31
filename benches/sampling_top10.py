import json, sys
def load(p):
    d = json.load(open(p))
    fr = d["frames"]
    out = {}
    for s in d["sites"]:
        key = tuple((fr[i]["function"], fr[i]["line"]) for i in s["frames"])
        a = out.setdefault(key, [0, 0])
        a[0] += s["allocated_bytes"]; a[1] += s["allocations"]
    return d, out
fd, full = load(sys.argv[1]); sd, samp = load(sys.argv[2])
print("full: %d sites listed of %d; sampled: %d of %d; sampled mode %s interval %s" % (len(fd["sites"]), fd["stacks"]["sites"], len(sd["sites"]), sd["stacks"]["sites"], sd["sampling"]["mode"], sd["sampling"]["interval_bytes"]))
print("summary allocated bytes: full %d, sampled (exact totals) %d" % (fd["summary"]["total_allocated_bytes"], sd["summary"]["total_allocated_bytes"]))
print()
print("| # | site (innermost non-plumbing frame) | full allocated bytes | sampled estimate | error |")
print("|---|---|---|---|---|")
worst = 0
for i, (k, v) in enumerate(sorted(full.items(), key=lambda kv: -kv[1][0])[:10]):
    e = samp.get(k, [0, 0])[0]
    err = e / v[0] - 1
    worst = max(worst, abs(err))
    name = next((f for f, l in k if not any(p in f for p in ("alloc::", "core::", "std::", "hashbrown::", "__rust"))), k[0][0] if k else "?")
    print(f"| {i+1} | `{name}` | {v[0]:,} | {e:,} | {err*100:+.1f}% |")
print(f"\nworst |error| over the top 10: {worst*100:.1f}% (target ±10%)")
