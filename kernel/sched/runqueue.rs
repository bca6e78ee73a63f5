//! One CPU's weighted-fair run queue: threads ordered by virtual runtime (CFS-like).
//!
//! A thread's virtual runtime (vruntime) grows with the real CPU time it gets, scaled by
//! `NICE_0_WEIGHT / weight`: a heavier thread's vruntime grows more slowly, so it is picked
//! more often. The queue always hands out the thread with the smallest vruntime. The running
//! thread is *not* in the queue; the scheduler charges it, then queues it again.
//!
//! Every function here is total: huge values saturate instead of overflowing, and a weight
//! of 0 counts as 1.
#![forbid(unsafe_code)]

use alloc::collections::{BTreeMap, BTreeSet};

/// A thread's identity as the scheduler knows it.
pub type ThreadId = u64;

/// The weight of a thread at the default priority.
pub const NICE_0_WEIGHT: u32 = 1024;

/// How far below the queue's floor a waking sleeper may be placed.
pub const SLEEPER_CREDIT_NS: u64 = 3_000_000;

/// The period in which every runnable thread should run once (when there are few of them).
pub const TARGET_LATENCY_NS: u64 = 6_000_000;

/// The shortest slice a thread gets, however many threads share the CPU.
pub const MIN_SLICE_NS: u64 = 1_000_000;

/// Advances a virtual runtime by `delta_ns` of real CPU time at `weight`:
/// `delta * NICE_0_WEIGHT / weight` (saturating; weight 0 treated as 1).
pub fn charge(vruntime: u64, delta_ns: u64, weight: u32) -> u64 {
    let weight = u128::from(weight.max(1));
    let scaled = u128::from(delta_ns) * u128::from(NICE_0_WEIGHT) / weight;
    vruntime.saturating_add(u64::try_from(scaled).unwrap_or(u64::MAX))
}

/// Where a thread that wakes after sleeping is placed: `max(its own vruntime,
/// min_vruntime - SLEEPER_CREDIT_NS)`, so sleepers (the shell) run promptly but cannot bank
/// unlimited credit.
pub fn placement_on_wake(thread_vruntime: u64, queue_min_vruntime: u64) -> u64 {
    thread_vruntime.max(queue_min_vruntime.saturating_sub(SLEEPER_CREDIT_NS))
}

/// The vruntime a thread carries to another CPU's queue: its distance from the old queue's
/// floor (which may be negative, for a sleeper with credit), rebased on the new floor.
pub fn migrate_vruntime(vruntime: u64, from_min: u64, to_min: u64) -> u64 {
    if vruntime >= from_min {
        to_min.saturating_add(vruntime - from_min)
    } else {
        to_min.saturating_sub(from_min - vruntime)
    }
}

/// The time slice for the running thread: `TARGET_LATENCY_NS * weight / total_weight`,
/// between `MIN_SLICE_NS` and `TARGET_LATENCY_NS`. `total_weight` should include the running
/// thread; 0 (or less than `weight`) gives the whole target latency.
pub fn time_slice(weight: u32, total_weight: u64) -> u64 {
    let weight = u64::from(weight);
    if total_weight <= weight {
        return TARGET_LATENCY_NS;
    }
    let share = u128::from(TARGET_LATENCY_NS) * u128::from(weight) / u128::from(total_weight);
    // `share < TARGET_LATENCY_NS` because weight < total_weight, so the conversion holds.
    u64::try_from(share).unwrap_or(TARGET_LATENCY_NS).max(MIN_SLICE_NS)
}

/// Load balancing decision over per-CPU ready counts (only online CPUs passed):
/// `Some((busiest, idlest))`, as indices into `ready`, when the busiest has at least 2 more
/// ready threads than the idlest; else `None`. Ties go to the lowest index.
pub fn imbalance(ready: &[usize]) -> Option<(usize, usize)> {
    let first = *ready.first()?;
    let (mut busiest, mut most) = (0, first);
    let (mut idlest, mut least) = (0, first);
    for (cpu, &count) in ready.iter().enumerate() {
        if count > most {
            (busiest, most) = (cpu, count);
        }
        if count < least {
            (idlest, least) = (cpu, count);
        }
    }
    (most - least >= 2).then_some((busiest, idlest))
}

/// One CPU's queue of ready threads, ordered by `(vruntime, ThreadId)`.
#[derive(Debug)]
pub struct RunQueue {
    /// The order in which threads are picked.
    order: BTreeSet<(u64, ThreadId)>,
    /// Each queued thread's `(weight, vruntime)`.
    threads: BTreeMap<ThreadId, (u32, u64)>,
    total_weight: u64,
    min_vruntime: u64,
}

impl Default for RunQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl RunQueue {
    /// An empty queue with floor 0 (`const`, so it can live in a static).
    pub const fn new() -> Self {
        Self { order: BTreeSet::new(), threads: BTreeMap::new(), total_weight: 0, min_vruntime: 0 }
    }

    /// Number of queued threads (the running thread is not counted).
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Sum of the queued threads' weights.
    pub fn total_weight(&self) -> u64 {
        self.total_weight
    }

    /// Whether `tid` is queued here.
    pub fn contains(&self, tid: ThreadId) -> bool {
        self.threads.contains_key(&tid)
    }

    /// Queues `tid`; returns false (no change) if it is already queued.
    pub fn enqueue(&mut self, tid: ThreadId, weight: u32, vruntime: u64) -> bool {
        if self.threads.contains_key(&tid) {
            return false;
        }
        self.threads.insert(tid, (weight, vruntime));
        self.order.insert((vruntime, tid));
        self.total_weight = self.total_weight.saturating_add(u64::from(weight));
        true
    }

    /// Removes and returns the entry with the smallest vruntime: `(tid, weight, vruntime)`.
    pub fn pick_next(&mut self) -> Option<(ThreadId, u32, u64)> {
        let (_, tid) = *self.order.first()?;
        let (weight, vruntime) = self.remove(tid)?;
        Some((tid, weight, vruntime))
    }

    /// The entry `pick_next` would return, left in the queue.
    pub fn peek_next(&self) -> Option<(ThreadId, u32, u64)> {
        let &(vruntime, tid) = self.order.first()?;
        let &(weight, _) = self.threads.get(&tid)?;
        Some((tid, weight, vruntime))
    }

    /// Takes `tid` out of the queue, returning its `(weight, vruntime)`.
    pub fn remove(&mut self, tid: ThreadId) -> Option<(u32, u64)> {
        let (weight, vruntime) = self.threads.remove(&tid)?;
        self.order.remove(&(vruntime, tid));
        self.total_weight = self.total_weight.saturating_sub(u64::from(weight));
        Some((weight, vruntime))
    }

    /// Moves the queue's floor forward and returns it. The floor never decreases; it follows
    /// the smallest vruntime on this CPU, queued or running (`running`, the running thread's
    /// current vruntime): `max(previous floor, min(smallest queued, running))`. With nothing
    /// queued and nothing running it stays put.
    ///
    /// Taking the *smaller* of the two keeps the floor at or below every thread on the CPU,
    /// which `placement_on_wake` and `migrate_vruntime` rely on.
    pub fn update_min_vruntime(&mut self, running: Option<u64>) -> u64 {
        let queued = self.order.first().map(|&(vruntime, _)| vruntime);
        let lowest = match (queued, running) {
            (Some(queued), Some(running)) => Some(queued.min(running)),
            (queued, running) => queued.or(running),
        };
        if let Some(lowest) = lowest {
            self.min_vruntime = self.min_vruntime.max(lowest);
        }
        self.min_vruntime
    }

    /// The queue's floor as last updated.
    pub fn min_vruntime(&self) -> u64 {
        self.min_vruntime
    }

    /// For load balancing: removes the entry with the largest vruntime (the one that would
    /// wait longest) among those `may_move(tid)` allows.
    pub fn steal(&mut self, may_move: impl Fn(ThreadId) -> bool) -> Option<(ThreadId, u32, u64)> {
        let tid = self.order.iter().rev().map(|&(_, tid)| tid).find(|&tid| may_move(tid))?;
        let (weight, vruntime) = self.remove(tid)?;
        Some((tid, weight, vruntime))
    }

    /// The queued threads in pick order: `(tid, weight, vruntime)`.
    pub fn iter(&self) -> impl Iterator<Item = (ThreadId, u32, u64)> + '_ {
        self.order.iter().map(|&(vruntime, tid)| {
            let weight = self.threads.get(&tid).map_or(0, |&(weight, _)| weight);
            (tid, weight, vruntime)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn charge_scales_by_weight_and_saturates() {
        assert_eq!(charge(100, 1000, NICE_0_WEIGHT), 1100);
        assert_eq!(charge(0, 1000, 2048), 500);
        assert_eq!(charge(0, 1000, 512), 2000);
        assert_eq!(charge(0, 1000, 0), 1_024_000);
        assert_eq!(charge(u64::MAX - 5, 1000, 1024), u64::MAX);
        assert_eq!(charge(0, u64::MAX, 1), u64::MAX);
        assert_eq!(charge(u64::MAX, u64::MAX, 0), u64::MAX);
        assert_eq!(charge(7, 0, 1), 7);
        let expected = u128::from(u64::MAX) * 1024 / u128::from(u32::MAX);
        assert_eq!(u128::from(charge(0, u64::MAX, u32::MAX)), expected);
    }

    #[test]
    fn picks_in_vruntime_order_and_breaks_ties_by_thread_id() {
        let mut queue = RunQueue::new();
        assert!(queue.enqueue(5, 1024, 300));
        assert!(queue.enqueue(9, 1024, 100));
        assert!(queue.enqueue(2, 2048, 100));
        assert!(queue.enqueue(1, 512, 200));
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.total_weight(), 1024 + 1024 + 2048 + 512);
        assert_eq!(queue.peek_next(), Some((2, 2048, 100)));
        let order: Vec<_> = core::iter::from_fn(|| queue.pick_next()).collect();
        assert_eq!(order, [(2, 2048, 100), (9, 1024, 100), (1, 512, 200), (5, 1024, 300)]);
        assert!(queue.is_empty());
        assert_eq!(queue.total_weight(), 0);
        assert_eq!(queue.pick_next(), None);
        assert_eq!(queue.peek_next(), None);
    }

    #[test]
    fn duplicate_enqueue_is_refused_without_change() {
        let mut queue = RunQueue::new();
        assert!(queue.enqueue(7, 1024, 50));
        assert!(!queue.enqueue(7, 4096, 10));
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.total_weight(), 1024);
        assert_eq!(queue.peek_next(), Some((7, 1024, 50)));
        assert!(queue.contains(7));
    }

    #[test]
    fn remove_takes_out_one_thread() {
        let mut queue = RunQueue::default();
        queue.enqueue(1, 1024, 10);
        queue.enqueue(2, 2048, 20);
        queue.enqueue(3, 1024, 30);
        assert_eq!(queue.remove(2), Some((2048, 20)));
        assert_eq!(queue.remove(2), None);
        assert_eq!(queue.remove(99), None);
        assert_eq!(queue.total_weight(), 2048);
        let left: Vec<_> = queue.iter().collect();
        assert_eq!(left, [(1, 1024, 10), (3, 1024, 30)]);
        // Re-enqueue after removal works, with new values.
        assert!(queue.enqueue(2, 1024, 5));
        assert_eq!(queue.pick_next(), Some((2, 1024, 5)));
    }

    /// Runs `slices` scheduling rounds on one queue of CPU-bound threads; returns each
    /// thread's CPU time, indexed like `weights`.
    fn simulate(weights: &[u32], slices: usize) -> Vec<u64> {
        let mut queue = RunQueue::new();
        for (tid, &weight) in weights.iter().enumerate() {
            queue.enqueue(tid as ThreadId, weight, 0);
        }
        let mut cpu_time = alloc::vec![0u64; weights.len()];
        for _ in 0..slices {
            let (tid, weight, vruntime) = queue.pick_next().unwrap();
            let slice = time_slice(weight, queue.total_weight() + u64::from(weight));
            cpu_time[tid as usize] += slice;
            let vruntime = charge(vruntime, slice, weight);
            queue.update_min_vruntime(Some(vruntime));
            assert!(queue.enqueue(tid, weight, vruntime));
        }
        cpu_time
    }

    #[test]
    fn equal_weights_share_the_cpu_equally() {
        let times = simulate(&[1024; 4], 1000);
        let most = *times.iter().max().unwrap();
        let least = *times.iter().min().unwrap();
        assert!(least > 0);
        assert!((most - least) * 100 <= least, "{times:?}");
    }

    #[test]
    fn cpu_time_follows_weight() {
        let times = simulate(&[2048, 1024], 1000);
        let ratio = times[0] as f64 / times[1] as f64;
        assert!((ratio - 2.0).abs() < 0.02, "{times:?}");

        // Uneven weights, slices from the minimum-slice clamp included.
        let weights = [3072, 1024, 1024, 512, 512, 512, 512, 512, 512, 512];
        let times = simulate(&weights, 20_000);
        let total_time: u64 = times.iter().sum();
        let total_weight: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        for (&time, &weight) in times.iter().zip(&weights) {
            let fair = total_time as f64 * f64::from(weight) / total_weight as f64;
            assert!((time as f64 - fair).abs() / fair < 0.02, "{times:?}");
        }
    }

    #[test]
    fn sleeper_runs_first_but_with_bounded_credit() {
        let mut queue = RunQueue::new();
        for tid in 1..=3 {
            queue.enqueue(tid, 1024, 0);
        }
        // The hogs run for a long time; the shell (tid 100) sleeps at vruntime 0.
        for _ in 0..3000 {
            let (tid, weight, vruntime) = queue.pick_next().unwrap();
            let vruntime = charge(vruntime, 2_000_000, weight);
            queue.update_min_vruntime(Some(vruntime));
            queue.enqueue(tid, weight, vruntime);
        }
        let floor = queue.update_min_vruntime(None);
        assert!(floor > 1_000_000_000);
        let placed = placement_on_wake(0, floor);
        assert_eq!(placed, floor - SLEEPER_CREDIT_NS);
        queue.enqueue(100, 1024, placed);
        assert_eq!(queue.pick_next().map(|(tid, _, _)| tid), Some(100));
        // A thread that slept briefly keeps its own (larger) vruntime.
        assert_eq!(placement_on_wake(floor + 5, floor), floor + 5);
        assert_eq!(placement_on_wake(floor - 1, floor), floor - 1);
        // Near zero the credit does not wrap.
        assert_eq!(placement_on_wake(0, 1000), 0);
    }

    #[test]
    fn min_vruntime_never_decreases_and_stays_a_floor() {
        let mut queue = RunQueue::new();
        assert_eq!(queue.update_min_vruntime(None), 0);
        queue.enqueue(1, 1024, 500);
        queue.enqueue(2, 1024, 900);
        assert_eq!(queue.update_min_vruntime(None), 500);
        // The running thread is behind the queue: the floor follows the smaller one.
        assert_eq!(queue.update_min_vruntime(Some(700)), 500);
        queue.remove(1);
        assert_eq!(queue.update_min_vruntime(Some(700)), 700);
        assert_eq!(queue.update_min_vruntime(Some(10)), 700);
        queue.enqueue(3, 1024, 0);
        assert_eq!(queue.update_min_vruntime(None), 700);
        assert_eq!(queue.min_vruntime(), 700);
        queue.pick_next();
        queue.pick_next();
        assert_eq!(queue.update_min_vruntime(None), 700);
        assert_eq!(queue.update_min_vruntime(Some(u64::MAX)), u64::MAX);
        assert_eq!(queue.update_min_vruntime(Some(0)), u64::MAX);
    }

    #[test]
    fn steal_takes_the_largest_allowed_vruntime() {
        let mut queue = RunQueue::new();
        queue.enqueue(1, 1024, 10);
        queue.enqueue(2, 1024, 40);
        queue.enqueue(3, 2048, 30);
        queue.enqueue(4, 1024, 40);
        assert_eq!(queue.steal(|_| true), Some((4, 1024, 40)));
        assert_eq!(queue.steal(|tid| tid != 2), Some((3, 2048, 30)));
        assert_eq!(queue.steal(|tid| tid == 1), Some((1, 1024, 10)));
        assert_eq!(queue.steal(|tid| tid == 1), None);
        assert_eq!(queue.steal(|_| false), None);
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.total_weight(), 1024);
    }

    #[test]
    fn migration_keeps_the_distance_from_the_floor() {
        assert_eq!(migrate_vruntime(1_500, 1_000, 9_000), 9_500);
        assert_eq!(migrate_vruntime(800, 1_000, 9_000), 8_800);
        assert_eq!(migrate_vruntime(0, 1_000, 500), 0);
        assert_eq!(migrate_vruntime(u64::MAX, 0, 10), u64::MAX);
        assert_eq!(migrate_vruntime(0, u64::MAX, u64::MAX), 0);
    }

    #[test]
    fn time_slices_share_the_target_latency() {
        assert_eq!(time_slice(1024, 1024), TARGET_LATENCY_NS);
        assert_eq!(time_slice(1024, 2048), TARGET_LATENCY_NS / 2);
        assert_eq!(time_slice(2048, 3072), 4_000_000);
        assert_eq!(time_slice(1024, 100 * 1024), MIN_SLICE_NS);
        assert_eq!(time_slice(0, 1024), MIN_SLICE_NS);
        assert_eq!(time_slice(1024, 0), TARGET_LATENCY_NS);
        assert_eq!(time_slice(u32::MAX, 1), TARGET_LATENCY_NS);
        assert_eq!(time_slice(u32::MAX, u64::MAX), MIN_SLICE_NS);
        assert_eq!(time_slice(0, 0), TARGET_LATENCY_NS);
    }

    #[test]
    fn imbalance_needs_a_difference_of_two() {
        assert_eq!(imbalance(&[]), None);
        assert_eq!(imbalance(&[7]), None);
        assert_eq!(imbalance(&[1, 0]), None);
        assert_eq!(imbalance(&[2, 0]), Some((0, 1)));
        assert_eq!(imbalance(&[0, 3, 1]), Some((1, 0)));
        assert_eq!(imbalance(&[4, 4, 4, 4]), None);
        assert_eq!(imbalance(&[5, 2, 5, 2]), Some((0, 1)));
        assert_eq!(imbalance(&[usize::MAX, 0]), Some((0, 1)));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let mut queue = RunQueue::new();
        queue.enqueue(u64::MAX, u32::MAX, u64::MAX);
        queue.enqueue(0, u32::MAX, 0);
        queue.enqueue(1, 0, u64::MAX);
        assert_eq!(queue.total_weight(), 2 * u64::from(u32::MAX));
        assert_eq!(queue.update_min_vruntime(Some(u64::MAX)), 0);
        assert_eq!(queue.pick_next(), Some((0, u32::MAX, 0)));
        assert_eq!(queue.pick_next(), Some((1, 0, u64::MAX)));
        assert_eq!(queue.update_min_vruntime(None), u64::MAX);
        assert_eq!(queue.steal(|_| true), Some((u64::MAX, u32::MAX, u64::MAX)));
        assert_eq!(queue.total_weight(), 0);
        let vruntime = charge(u64::MAX, u64::MAX, 0);
        assert_eq!(placement_on_wake(vruntime, u64::MAX), u64::MAX);
    }
}
