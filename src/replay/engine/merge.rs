//! The merge of buffered runs of ops (one sorted run per chunk) in key
//! order, among equal keys in run order.

use super::Op;

/// Calls `f` on the ops of two sorted slices in merged order; among equal
/// keys, `a`'s go first.
#[inline]
fn merge(a: &[Op], b: &[Op], mut f: impl FnMut(&Op)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i].key <= b[j].key) {
            f(&a[i]);
            i += 1;
        } else {
            f(&b[j]);
            j += 1;
        }
    }
}

/// Calls `f` on the ops of sorted slices in merged order: by key, and among
/// equal keys in the order of the slices (each slice keeps its own order).
/// Two slices take the plain two-way merge; more, a heap of their heads,
/// applying a run of one slice at a time while it stays below the others.
pub(super) fn merge_runs(runs: &[&[Op]], mut f: impl FnMut(&Op)) {
    use std::cmp::Reverse;
    let runs: Vec<&[Op]> = runs.iter().copied().filter(|r| !r.is_empty()).collect();
    match runs.len() {
        0 => {}
        1 => runs[0].iter().for_each(f),
        2 => merge(runs[0], runs[1], f),
        _ => {
            let mut pos = vec![0usize; runs.len()];
            // (key, slice index): the smallest pops first, ties by slice order.
            let mut heap: std::collections::BinaryHeap<Reverse<(u64, usize)>> =
                runs.iter().enumerate().map(|(i, r)| Reverse((r[0].key, i))).collect();
            while let Some(Reverse((_, i))) = heap.pop() {
                let run = runs[i];
                let mut p = pos[i];
                // The next head of another slice: ops of `i` go first while
                // they sort before it.
                let next = heap.peek().map(|&Reverse(h)| h);
                loop {
                    f(&run[p]);
                    p += 1;
                    if p == run.len() {
                        break;
                    }
                    if next.is_some_and(|n| (run[p].key, i) > n) {
                        heap.push(Reverse((run[p].key, i)));
                        break;
                    }
                }
                pos[i] = p;
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
            merge_runs(&slices, |op| got.push(*op));
            let tags = |v: &[Op]| v.iter().map(|op| (op.key, op.a)).collect::<Vec<_>>();
            assert_eq!(tags(&got), tags(&want), "case {case}: {k} runs");
        }
    }
}
