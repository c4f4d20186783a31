//! Suggestions drawn from a replay's own figures: each names the numbers it
//! rests on, and none is made without them.

use super::track::{Suggestion, Tracked};
use super::{Bucket, Totals};
use std::collections::BTreeMap;

/// Reallocations of one variable's allocations from which growing it is
/// worth a `reserve`.
const REALLOCATIONS_WORTH_RESERVING: u64 = 4;
/// Freed allocations below which the short-lived share is not reported.
const MIN_FREED_FOR_SHARE: u64 = 100;
/// The share of freed allocations living at most 1023 ns from which it is reported, in percent.
const SHORT_LIVED_PERCENT: f64 = 25.0;
/// The most suggestions of one kind.
const MAX_PER_KIND: usize = 10;

/// Bytes in binary units, e.g. `1.2 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

fn figures<const N: usize>(pairs: [(&'static str, f64); N]) -> BTreeMap<&'static str, f64> {
    pairs.into_iter().collect()
}

/// Why what is live at the end of a recording is a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaks {
    /// The recording ended at process exit.
    AtExit,
    /// The program asked (`Recorder::treat_live_at_end_as_leaks`).
    Asked,
}

/// The suggestions for a replay; `leaks` says the recording ended cleanly
/// and why what is live at its end leaked (`None`: memory still live when
/// the program called `finish()` is not a leak). With events lost the live
/// set is not known: no leak suggestion then.
pub(crate) fn suggestions(totals: &Totals, tracked: &Tracked, lifetimes: &[Bucket], leaks: Option<Leaks>) -> Vec<Suggestion> {
    let mut out = Vec::new();
    if totals.lost_events > 0 {
        out.push(Suggestion {
            kind: "lost_events",
            text: format!(
                "{} events were lost: counts of calls and bytes are lower bounds, and live bytes, the peak and what was live at the end \
                 are not known (a lost deallocation leaves its allocation counted live). Record with OnFull::Block, or a larger ring capacity.",
                totals.lost_events
            ),
            variable: None,
            scope: None,
            figures: figures([("lost_events", totals.lost_events as f64)]),
        });
    }

    let mut growing: Vec<(u64, u64, u32)> = tracked
        .variables
        .iter()
        .map(|v| {
            (
                v.allocations.iter().fold(0u64, |s, a| s.saturating_add(a.reallocations)),
                v.allocations.iter().fold(0u64, |s, a| s.saturating_add(a.peak_size)),
                v.id,
            )
        })
        .filter(|&(r, _, _)| r >= REALLOCATIONS_WORTH_RESERVING)
        .collect();
    growing.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)));
    for &(reallocations, peak, id) in growing.iter().take(MAX_PER_KIND) {
        let v = &tracked.variables[id as usize];
        out.push(Suggestion {
            kind: "reserve_capacity",
            text: format!(
                "`{}` was reallocated {reallocations} times while growing to {}: reserve its capacity up front (with_capacity or reserve).",
                v.name,
                bytes(peak)
            ),
            variable: Some(id),
            scope: None,
            figures: figures([("reallocations", reallocations as f64), ("peak_size_bytes", peak as f64)]),
        });
    }

    let freed = lifetimes.iter().fold(0u64, |s, b| s.saturating_add(b.count));
    let short = lifetimes.iter().filter(|b| b.upper < 1024).fold(0u64, |s, b| s.saturating_add(b.count));
    if freed >= MIN_FREED_FOR_SHARE {
        let percent = short as f64 * 100.0 / freed as f64;
        if percent >= SHORT_LIVED_PERCENT {
            out.push(Suggestion {
                kind: "short_lived",
                text: format!(
                    "{percent:.0}% of freed allocations ({short} of {freed}) lived at most 1023 ns: temporary allocations. \
                     Reusing a buffer, or keeping the value on the stack, saves an allocation and a deallocation each."
                ),
                variable: None,
                scope: None,
                figures: figures([("short_lived", short as f64), ("freed_allocations", freed as f64), ("percent", percent)]),
            });
        }
    }

    if let Some(leaks) = leaks.filter(|_| totals.lost_events == 0) {
        let how = match leaks {
            Leaks::AtExit => " at process exit",
            Leaks::Asked => " (the program asked to treat that as a leak)",
        };
        // Bytes live at the end made in each scope itself (not in a nested one).
        let mut own: Vec<u64> = tracked.scopes.iter().map(|s| s.live_bytes).collect();
        for s in &tracked.scopes {
            if let Some(p) = s.parent {
                own[p as usize] = own[p as usize].wrapping_sub(s.live_bytes);
            }
        }
        let mut leaking: Vec<(u64, u32)> = own.iter().enumerate().filter(|(_, &b)| b > 0).map(|(i, &b)| (b, i as u32)).collect();
        leaking.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(live, id) in leaking.iter().take(MAX_PER_KIND) {
            let s = &tracked.scopes[id as usize];
            out.push(Suggestion {
                kind: "leak_by_scope",
                text: format!(
                    "{} allocated in scope `{}` (thread {}) was still live when the recording ended{}: it leaked.",
                    bytes(live),
                    s.name,
                    s.thread,
                    how
                ),
                variable: None,
                scope: Some(id),
                figures: figures([("live_bytes", live as f64)]),
            });
        }
        let mut leaked: Vec<&super::Variable> = tracked.variables.iter().filter(|v| v.state == "live").collect();
        leaked.sort_unstable_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
        // Variables sharing an allocation (an Rc and its clones) are one leak.
        let mut told: Vec<u32> = Vec::new();
        let leaked: Vec<&super::Variable> = leaked
            .into_iter()
            .filter(|v| {
                let new = !v.shared_with.iter().any(|w| told.contains(w));
                told.push(v.id);
                new
            })
            .take(MAX_PER_KIND)
            .collect();
        for v in leaked {
            let shared = if v.shared_with.is_empty() {
                String::new()
            } else {
                format!(", shared with {} other variable{}", v.shared_with.len(), if v.shared_with.len() == 1 { "" } else { "s" })
            };
            out.push(Suggestion {
                kind: "leaked_variable",
                text: format!(
                    "`{}` ({}, {}{shared}) was still live when the recording ended{how}: it leaked.",
                    v.name,
                    v.type_name,
                    bytes(v.size)
                ),
                variable: Some(v.id),
                scope: v.scope,
                figures: figures([("size_bytes", v.size as f64)]),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn bytes_are_written_in_binary_units() {
        assert_eq!(bytes(0), "0 bytes");
        assert_eq!(bytes(1023), "1023 bytes");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1_258_291), "1.2 MiB");
    }
}
