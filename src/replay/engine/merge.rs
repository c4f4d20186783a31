//! The merge of buffered runs of ops (one sorted run per chunk) in key
//! order, among equal keys in run order.

use super::Op;

/// Calls `f` on stretches of two sorted slices in merged order; among
/// equal keys, `a`'s go first.
#[inline]
fn merge(a: &[Op], b: &[Op], mut f: impl FnMut(&[Op])) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        // `a`'s ops go while they sort at or before `b`'s head, then `b`'s
        // while they sort before `a`'s (at least one: `a[i]` is above `b[j]`).
        let (from, head) = (i, b[j].key);
        i += a[i..].partition_point(|op| op.key <= head);
        if i > from {
            f(&a[from..i]);
        }
        let Some(head) = a.get(i).map(|op| op.key) else { break };
        let from = j;
        j += b[j..].partition_point(|op| op.key < head);
        f(&b[from..j]);
    }
    for rest in [&a[i..], &b[j..]] {
        if !rest.is_empty() {
            f(rest);
        }
    }
}

/// Calls `f` on the ops of sorted slices in merged order (by key, and among
/// equal keys in the order of the slices, each slice keeping its own
/// order), a stretch of one slice at a time: the stretch applies in one
/// loop, not a call per op. Two slices take the plain two-way merge; more,
/// a heap of their heads, taking from one slice while it stays below the
/// others.
pub(super) fn merge_runs(runs: &[&[Op]], mut f: impl FnMut(&[Op])) {
    use std::cmp::Reverse;
    let runs: Vec<&[Op]> = runs.iter().copied().filter(|r| !r.is_empty()).collect();
    match runs.len() {
        0 => {}
        1 => f(runs[0]),
        2 => merge(runs[0], runs[1], f),
        _ => {
            let mut pos = vec![0usize; runs.len()];
            // (key, slice index): the smallest pops first, ties by slice order.
            let mut heap: std::collections::BinaryHeap<Reverse<(u64, usize)>> =
                runs.iter().enumerate().map(|(i, r)| Reverse((r[0].key, i))).collect();
            while let Some(Reverse((_, i))) = heap.pop() {
                let run = runs[i];
                let from = pos[i];
                // The next head of another slice: ops of `i` go first while
                // they sort before it (equal keys: by slice order).
                let end = match heap.peek() {
                    None => run.len(),
                    Some(&Reverse((key, other))) => {
                        let rest = &run[from + 1..];
                        from + 1
                            + if i < other { rest.partition_point(|op| op.key <= key) } else { rest.partition_point(|op| op.key < key) }
                    }
                };
                f(&run[from..end]);
                if end < run.len() {
                    heap.push(Reverse((run[end].key, i)));
                }
                pos[i] = end;
            }
        }
    }
}

/// A sorted run of buffered ops: one chunk's, those from `pos` on not yet applied.
#[derive(Debug, Default)]
pub(super) struct Run {
    pub(super) ops: Vec<Op>,
    pub(super) pos: usize,
}

impl Run {
    #[inline]
    pub(super) fn rest(&self) -> &[Op] {
        &self.ops[self.pos..]
    }
}

#[cfg(test)]
mod tests {
    use super::super::ops::OpKind;
    use super::*;

    fn op(key: u64, tag: u64) -> Op {
        Op { key, a: tag, b: 0, c: 0, thread: 0, stack: 0, kind: OpKind::Alloc }
    }

    /// The merge of sorted runs is the stable sort of their concatenation:
    /// by key, equal keys in run order then in order within a run.
    #[test]
    fn merged_runs_are_the_stable_sort_of_their_concatenation() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..2000 {
            let k = (next() % 9) as usize;
            // Few distinct keys: many ties within and across runs.
            let span = 1 + next() % if case % 2 == 0 { 8 } else { 1000 };
            let mut tag = 0;
            let runs: Vec<Vec<Op>> = (0..k)
                .map(|_| {
                    let mut keys: Vec<u64> = (0..next() % 20).map(|_| next() % span).collect();
                    keys.sort_unstable();
                    keys.into_iter()
                        .map(|key| {
                            tag += 1;
                            op(key, tag)
                        })
                        .collect()
                })
                .collect();
            let mut want: Vec<Op> = runs.iter().flatten().copied().collect();
            want.sort_by_key(|op| op.key);
            let slices: Vec<&[Op]> = runs.iter().map(Vec::as_slice).collect();
            let mut got = Vec::new();
            merge_runs(&slices, |stretch| got.extend_from_slice(stretch));
            let tags = |v: &[Op]| v.iter().map(|op| (op.key, op.a)).collect::<Vec<_>>();
            assert_eq!(tags(&got), tags(&want), "case {case}: {k} runs");
        }
    }
}
