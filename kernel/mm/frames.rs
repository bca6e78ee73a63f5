//! Physical frame allocator: a bitmap over the span of usable RAM, next-fit for single frames.
//!
//! The caller's bitmap holds two maps of one bit per frame over the span (lowest usable
//! start .. highest usable end): `free` (1 = free now) and `owned` (1 = usable RAM that no
//! reserved range covers; fixed at creation). `owned` lets `free()` tell a double free from a
//! frame that was never ours. Bits past the end of the span are 0 in both maps.
#![forbid(unsafe_code)]

use core::fmt;

/// Size of one physical frame.
pub const FRAME_SIZE: u64 = 4096;
const FRAME_MASK: u64 = FRAME_SIZE - 1;
const FRAME_SHIFT: u32 = FRAME_SIZE.trailing_zeros();
const WORD_BITS: usize = u64::BITS as usize;

/// A half-open physical address range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

impl PhysRange {
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// `[start, start + len)`, or `None` when that passes the end of the address space.
    pub const fn from_len(start: u64, len: u64) -> Option<Self> {
        match start.checked_add(len) {
            Some(end) => Some(Self { start, end }),
            None => None,
        }
    }

    /// Length in bytes (0 for an empty or inverted range).
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// False for an inverted range (`start > end`), which no function here accepts.
    pub const fn is_valid(&self) -> bool {
        self.start <= self.end
    }

    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Whether `other` lies inside `self` (an empty `other` always does).
    pub const fn contains_range(&self, other: &PhysRange) -> bool {
        other.is_empty() || (self.start <= other.start && other.end <= self.end)
    }

    /// Whether the two ranges share at least one byte.
    pub const fn overlaps(&self, other: &PhysRange) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    /// The whole frames inside the range: start rounded up, end rounded down.
    /// The result may be empty.
    pub const fn align_in(&self) -> Self {
        let end = self.end & !FRAME_MASK;
        let start = match self.start.checked_add(FRAME_MASK) {
            Some(s) => s & !FRAME_MASK,
            None => end,
        };
        if start >= end {
            Self { start: end, end }
        } else {
            Self { start, end }
        }
    }

    /// The frames the range touches: start rounded down, end rounded up. An end in the
    /// address space's last, partial frame is rounded down to its start (no range can
    /// describe that frame, so no usable memory can contain it).
    pub const fn align_out(&self) -> Self {
        let end = match self.end.checked_add(FRAME_MASK) {
            Some(e) => e & !FRAME_MASK,
            None => self.end & !FRAME_MASK,
        };
        Self {
            start: self.start & !FRAME_MASK,
            end,
        }
    }

    /// The part of `self` that lies inside `other` (empty when they do not overlap).
    pub const fn clamp_to(&self, other: &PhysRange) -> Self {
        let start = if self.start > other.start {
            self.start
        } else {
            other.start
        };
        let end = if self.end < other.end {
            self.end
        } else {
            other.end
        };
        if start >= end {
            Self { start, end: start }
        } else {
            Self { start, end }
        }
    }
}

/// Why the frame allocator refused a request.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The bitmap has fewer words than `FrameAllocator::bitmap_words` asked for.
    BitmapTooSmall { needed: usize, given: usize },
    /// A range with `start > end`.
    InvalidRange(PhysRange),
    /// No whole frame is left once usable ranges are trimmed and reserved ones removed.
    NoUsableMemory,
    /// `free` of zero frames.
    EmptyRun,
    /// An address that is not frame-aligned.
    Unaligned { pa: u64 },
    /// Frames outside the span of usable memory.
    OutOfSpan { pa: u64 },
    /// A frame inside the span that is a hole or reserved: never handed out.
    NotUsable { pa: u64 },
    /// A frame that is free already (double free).
    NotAllocated { pa: u64 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BitmapTooSmall { needed, given } => {
                write!(
                    f,
                    "frame bitmap too small: {given} words given, {needed} needed"
                )
            }
            Self::InvalidRange(r) => write!(f, "inverted range {:#x}..{:#x}", r.start, r.end),
            Self::NoUsableMemory => f.write_str("no usable memory"),
            Self::EmptyRun => f.write_str("free of zero frames"),
            Self::Unaligned { pa } => write!(f, "address {pa:#x} is not frame-aligned"),
            Self::OutOfSpan { pa } => write!(f, "frames at {pa:#x} are outside usable memory"),
            Self::NotUsable { pa } => write!(f, "frame {pa:#x} is reserved or a hole"),
            Self::NotAllocated { pa } => write!(f, "frame {pa:#x} is not allocated"),
        }
    }
}

/// The lowest start and highest end of the non-empty frame-aligned usable ranges.
fn usable_span(usable: &[PhysRange]) -> Option<PhysRange> {
    usable
        .iter()
        .map(PhysRange::align_in)
        .filter(|r| !r.is_empty())
        .fold(None, |acc, r| {
            Some(match acc {
                None => r,
                Some(a) => PhysRange::new(a.start.min(r.start), a.end.max(r.end)),
            })
        })
}

/// The words of one map covering `frames` frames.
const fn words_for(frames: usize) -> usize {
    frames.div_ceil(WORD_BITS)
}

/// Bits `[start, end)` of a bitmap as `(word index, mask)` pairs, in order.
fn word_masks(start: usize, end: usize) -> impl Iterator<Item = (usize, u64)> {
    let mut cur = start;
    core::iter::from_fn(move || {
        if cur >= end {
            return None;
        }
        let word = cur / WORD_BITS;
        let lo = cur % WORD_BITS;
        let hi = (end - word * WORD_BITS).min(WORD_BITS);
        let ones = if hi - lo == WORD_BITS {
            u64::MAX
        } else {
            (1u64 << (hi - lo)) - 1
        };
        cur = word * WORD_BITS + hi;
        Some((word, ones << lo))
    })
}

/// Hands out physical frames from a caller-provided bitmap; no allocation of its own.
pub struct FrameAllocator<'a> {
    /// Physical address of frame index 0 (frame-aligned).
    base: u64,
    /// Frames in the span.
    frames: usize,
    /// 1 = free.
    free_map: &'a mut [u64],
    /// 1 = usable and not reserved; fixed at creation.
    owned_map: &'a mut [u64],
    free: usize,
    total: usize,
    /// Word where the next single-frame search starts (next fit).
    hint: usize,
}

impl fmt::Debug for FrameAllocator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameAllocator")
            .field("span", &self.span())
            .field("free", &self.free)
            .field("total", &self.total)
            .finish()
    }
}

impl<'a> FrameAllocator<'a> {
    /// Words of bitmap needed to cover the span of `usable` (lowest start .. highest end):
    /// two bits per frame. 0 when no usable range holds a whole frame; saturates at
    /// `usize::MAX` for spans no bitmap could cover.
    pub fn bitmap_words(usable: &[PhysRange]) -> usize {
        let Some(span) = usable_span(usable) else {
            return 0;
        };
        usize::try_from(span.len() >> FRAME_SHIFT)
            .ok()
            .and_then(|frames| words_for(frames).checked_mul(2))
            .unwrap_or(usize::MAX)
    }

    /// Usable = RAM ranges; reserved ranges (kernel image, DTB, initrd, reserved-memory, and
    /// the bitmap itself) are never handed out. Ranges need not be sorted or frame-aligned
    /// (usable ones are rounded inward, reserved ones outward). `bitmap` may be longer than
    /// `bitmap_words(usable)`; the rest is left untouched.
    pub fn new(
        usable: &[PhysRange],
        reserved: &[PhysRange],
        bitmap: &'a mut [u64],
    ) -> Result<Self, FrameError> {
        if let Some(bad) = usable.iter().chain(reserved).find(|r| !r.is_valid()) {
            return Err(FrameError::InvalidRange(*bad));
        }
        let span = usable_span(usable).ok_or(FrameError::NoUsableMemory)?;
        let needed = Self::bitmap_words(usable);
        let frames = usize::try_from(span.len() >> FRAME_SHIFT)
            .ok()
            .filter(|_| bitmap.len() >= needed);
        let Some(frames) = frames else {
            return Err(FrameError::BitmapTooSmall {
                needed,
                given: bitmap.len(),
            });
        };
        let words = words_for(frames);
        let (free_map, rest) = bitmap.split_at_mut(words);
        let owned_map = &mut rest[..words];
        owned_map.fill(0);
        let mut this = Self {
            base: span.start,
            frames,
            free_map,
            owned_map,
            free: 0,
            total: 0,
            hint: 0,
        };
        for r in usable
            .iter()
            .map(PhysRange::align_in)
            .filter(|r| !r.is_empty())
        {
            let (start, end) = this.indices(&r);
            word_masks(start, end).for_each(|(w, m)| this.owned_map[w] |= m);
        }
        for r in reserved.iter().map(|r| r.align_out().clamp_to(&span)) {
            if !r.is_empty() {
                let (start, end) = this.indices(&r);
                word_masks(start, end).for_each(|(w, m)| this.owned_map[w] &= !m);
            }
        }
        this.free_map.copy_from_slice(this.owned_map);
        this.total = this.owned_map.iter().map(|w| w.count_ones() as usize).sum();
        this.free = this.total;
        if this.total == 0 {
            return Err(FrameError::NoUsableMemory);
        }
        Ok(this)
    }

    /// `count` contiguous frames whose first frame is aligned to `align_frames` frames (a
    /// power of two); returns the physical address. `None` when no such run is free or the
    /// request is malformed (zero count, alignment not a power of two).
    pub fn alloc(&mut self, count: usize, align_frames: usize) -> Option<u64> {
        if count == 0 || count > self.free || !align_frames.is_power_of_two() {
            return None;
        }
        if count == 1 && align_frames == 1 {
            return self.alloc_one();
        }
        let hint_frame = self.hint * WORD_BITS;
        let start = self
            .find_run(hint_frame, self.frames, count, align_frames)
            .or_else(|| self.find_run(0, hint_frame, count, align_frames))?;
        word_masks(start, start + count).for_each(|(w, m)| self.free_map[w] &= !m);
        self.free -= count;
        Some(self.pa_of(start))
    }

    /// Frees exactly what `alloc` returned (or any allocated run). Refuses, changing
    /// nothing, a run with a frame that is not allocated, an unaligned address, or frames
    /// outside usable memory.
    pub fn free(&mut self, pa: u64, count: usize) -> Result<(), FrameError> {
        if count == 0 {
            return Err(FrameError::EmptyRun);
        }
        if pa & FRAME_MASK != 0 {
            return Err(FrameError::Unaligned { pa });
        }
        let start = self.index_of(pa).ok_or(FrameError::OutOfSpan { pa })?;
        let end = start
            .checked_add(count)
            .filter(|&end| end <= self.frames)
            .ok_or(FrameError::OutOfSpan { pa })?;
        for (w, m) in word_masks(start, end) {
            let foreign = m & !self.owned_map[w];
            let already_free = m & self.free_map[w];
            let first = |bits: u64| self.pa_of(w * WORD_BITS + bits.trailing_zeros() as usize);
            if foreign.trailing_zeros() < already_free.trailing_zeros() {
                return Err(FrameError::NotUsable { pa: first(foreign) });
            }
            if already_free != 0 {
                return Err(FrameError::NotAllocated {
                    pa: first(already_free),
                });
            }
        }
        word_masks(start, end).for_each(|(w, m)| self.free_map[w] |= m);
        self.free += count;
        Ok(())
    }

    /// Frames free now.
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// Frames this allocator manages: usable minus reserved at creation.
    pub fn total_frames(&self) -> usize {
        self.total
    }

    /// The frame-aligned span that the bitmap covers.
    pub fn span(&self) -> PhysRange {
        PhysRange::new(self.base, self.pa_of(self.frames))
    }

    /// Whether the frame at `pa` is managed here and free now.
    pub fn is_free(&self, pa: u64) -> bool {
        match self.index_of(pa) {
            Some(i) if pa & FRAME_MASK == 0 && i < self.frames => {
                self.free_map[i / WORD_BITS] & (1 << (i % WORD_BITS)) != 0
            }
            _ => false,
        }
    }

    fn alloc_one(&mut self) -> Option<u64> {
        let words = self.free_map.len();
        let w = (self.hint..words)
            .chain(0..self.hint)
            .find(|&w| self.free_map[w] != 0)?;
        let bit = self.free_map[w].trailing_zeros() as usize;
        self.free_map[w] &= !(1 << bit);
        self.free -= 1;
        self.hint = w;
        Some(self.pa_of(w * WORD_BITS + bit))
    }

    /// The first index `i` in `[from, limit)` where frames `[i, i + count)` are all free and
    /// frame `i` is aligned to `align` frames physically.
    fn find_run(&self, from: usize, limit: usize, count: usize, align: usize) -> Option<usize> {
        let mut i = self.align_index(from, align)?;
        loop {
            if i >= limit || i.checked_add(count)? > self.frames {
                return None;
            }
            match self.first_busy(i, i + count) {
                None => return Some(i),
                Some(busy) => i = self.align_index(self.first_free(busy + 1)?, align)?,
            }
        }
    }

    /// The first frame in `[start, end)` that is not free.
    fn first_busy(&self, start: usize, end: usize) -> Option<usize> {
        word_masks(start, end).find_map(|(w, m)| {
            let busy = m & !self.free_map[w];
            (busy != 0).then(|| w * WORD_BITS + busy.trailing_zeros() as usize)
        })
    }

    /// The first free frame at or after `from`.
    fn first_free(&self, from: usize) -> Option<usize> {
        let w0 = from / WORD_BITS;
        let head = self.free_map.get(w0)? & (u64::MAX << (from % WORD_BITS));
        let (w, bits) = core::iter::once((w0, head))
            .chain((w0 + 1..self.free_map.len()).map(|w| (w, self.free_map[w])))
            .find(|&(_, bits)| bits != 0)?;
        Some(w * WORD_BITS + bits.trailing_zeros() as usize)
    }

    /// The smallest index at or after `i` whose physical frame number is a multiple of
    /// `align`.
    fn align_index(&self, i: usize, align: usize) -> Option<usize> {
        let pfn = (self.base >> FRAME_SHIFT).checked_add(i as u64)?;
        let aligned = pfn.checked_next_multiple_of(align as u64)?;
        usize::try_from(aligned - (self.base >> FRAME_SHIFT)).ok()
    }

    /// The frame index of `pa` (rounded down), if `pa` is at or above the span's start.
    fn index_of(&self, pa: u64) -> Option<usize> {
        usize::try_from(pa.checked_sub(self.base)? >> FRAME_SHIFT).ok()
    }

    /// Frame indices `[start, end)` of a frame-aligned range inside the span.
    fn indices(&self, r: &PhysRange) -> (usize, usize) {
        let to_index = |pa: u64| self.index_of(pa).unwrap_or(0).min(self.frames);
        (to_index(r.start), to_index(r.end))
    }

    fn pa_of(&self, index: usize) -> u64 {
        self.base + ((index as u64) << FRAME_SHIFT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Mutex;

    const MIB: u64 = 1 << 20;

    fn r(start: u64, end: u64) -> PhysRange {
        PhysRange::new(start, end)
    }

    fn bitmap_for(usable: &[PhysRange]) -> Vec<u64> {
        vec![0xdead_beef_dead_beef; FrameAllocator::bitmap_words(usable)]
    }

    /// A small linear congruential generator: deterministic, no extra crates.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn range_helpers() {
        let a = r(0x1001, 0x5fff);
        assert_eq!(a.len(), 0x4ffe);
        assert_eq!(a.align_in(), r(0x2000, 0x5000));
        assert_eq!(a.align_out(), r(0x1000, 0x6000));
        assert!(r(0x1001, 0x1fff).align_in().is_empty());
        assert!(a.contains(0x1001) && !a.contains(0x5fff));
        assert!(a.overlaps(&r(0x5ffe, 0x7000)) && !a.overlaps(&r(0x5fff, 0x7000)));
        assert!(!a.overlaps(&r(0x2000, 0x2000)));
        assert!(a.contains_range(&r(0x2000, 0x3000)) && !a.contains_range(&r(0x0, 0x3000)));
        assert_eq!(r(u64::MAX - 10, u64::MAX).align_out().end, !FRAME_MASK);
        assert!(r(u64::MAX - 10, u64::MAX).align_in().is_empty());
        assert_eq!(PhysRange::from_len(u64::MAX, 2), None);
        assert_eq!(r(5, 1).len(), 0);
        assert!(!r(5, 1).is_valid() && r(5, 1).is_empty());
        assert_eq!(r(0, 0x3000).clamp_to(&r(0x1000, 0x8000)), r(0x1000, 0x3000));
        assert!(r(0, 0x1000).clamp_to(&r(0x2000, 0x3000)).is_empty());
    }

    #[test]
    fn construction_with_holes_and_reserved_edges() {
        // Two banks with a hole; unaligned edges; reserved ranges straddling bank edges.
        let usable = [r(0x4000_0800, 0x4010_0000), r(0x4020_0000, 0x4030_0100)];
        let reserved = [
            r(0x3fff_0000, 0x4000_2001), // covers the first bank's start, rounds out to 0x4000_3000
            r(0x402f_ffff, 0x5000_0000), // the second bank's tail
            r(0x4008_0000, 0x4008_0000), // empty: ignored
        ];
        let mut bitmap = bitmap_for(&usable);
        // Span 0x4000_1000..0x4030_0000 = 0x2ff frames -> 12 words per map.
        assert_eq!(bitmap.len(), 24);
        let mut fa = FrameAllocator::new(&usable, &reserved, &mut bitmap).unwrap();
        assert_eq!(fa.span(), r(0x4000_1000, 0x4030_0000));
        let first = (0x4010_0000 - 0x4000_3000) / FRAME_SIZE;
        let second = (0x402f_f000 - 0x4020_0000) / FRAME_SIZE;
        assert_eq!(fa.total_frames(), (first + second) as usize);
        assert_eq!(fa.free_frames(), fa.total_frames());
        let mut seen = HashSet::new();
        while let Some(pa) = fa.alloc(1, 1) {
            assert!(seen.insert(pa));
            let ok = (0x4000_3000..0x4010_0000).contains(&pa)
                || (0x4020_0000..0x402f_f000).contains(&pa);
            assert!(ok, "{pa:#x} is a hole or reserved");
        }
        assert_eq!(seen.len(), fa.total_frames());
        assert_eq!(fa.free_frames(), 0);
    }

    #[test]
    fn construction_errors() {
        let usable = [r(0x1000, 0x9000)];
        let mut small = vec![0; 1];
        assert_eq!(
            FrameAllocator::new(&usable, &[], &mut small).unwrap_err(),
            FrameError::BitmapTooSmall {
                needed: 2,
                given: 1
            }
        );
        let mut bm = vec![0; 8];
        assert_eq!(
            FrameAllocator::new(&[r(0x1001, 0x1fff)], &[], &mut bm).unwrap_err(),
            FrameError::NoUsableMemory
        );
        assert_eq!(
            FrameAllocator::new(&usable, &[r(0, 0x10_0000)], &mut bm).unwrap_err(),
            FrameError::NoUsableMemory
        );
        assert_eq!(
            FrameAllocator::new(&usable, &[r(0x3000, 0x2000)], &mut bm).unwrap_err(),
            FrameError::InvalidRange(r(0x3000, 0x2000))
        );
        assert_eq!(FrameAllocator::bitmap_words(&[]), 0);
        assert_eq!(
            FrameAllocator::bitmap_words(&[r(0, u64::MAX)]),
            2 * (1 << 46)
        );
        // A longer bitmap than needed is fine, and its tail is left alone.
        let mut long = vec![7u64; 10];
        let fa = FrameAllocator::new(&usable, &[], &mut long).unwrap();
        assert_eq!(fa.total_frames(), 8);
        assert_eq!(long[2..], [7; 8]);
    }

    #[test]
    fn alignment_and_runs() {
        // 0x4000_1000 start: the first 2 MiB-aligned run begins at 0x4020_0000.
        let usable = [r(0x4000_1000, 0x4080_0000)];
        let mut bitmap = bitmap_for(&usable);
        let mut fa = FrameAllocator::new(&usable, &[], &mut bitmap).unwrap();
        let a = fa.alloc(512, 512).unwrap();
        assert_eq!(a, 0x4020_0000);
        let b = fa.alloc(512, 512).unwrap();
        assert_eq!(b, 0x4040_0000);
        let c = fa.alloc(3, 4).unwrap();
        assert_eq!(c % (4 * FRAME_SIZE), 0);
        assert_eq!(c, 0x4000_4000);
        assert_eq!(fa.alloc(1, 3), None, "alignment must be a power of two");
        assert_eq!(fa.alloc(1, 0), None);
        assert_eq!(fa.alloc(0, 1), None);
        fa.free(a, 512).unwrap();
        assert_eq!(fa.alloc(512, 512), Some(a));
        // Only 0x4060_0000..0x4080_0000 is a 2 MiB run left; then none.
        assert_eq!(fa.alloc(512, 512), Some(0x4060_0000));
        assert_eq!(fa.alloc(512, 512), None);
        // A huge alignment no frame satisfies.
        assert_eq!(fa.alloc(1, 1 << 40), None);
    }

    #[test]
    fn exhaustion_returns_none() {
        let usable = [r(0, 16 * FRAME_SIZE)];
        let mut bitmap = bitmap_for(&usable);
        let mut fa = FrameAllocator::new(&usable, &[r(0, FRAME_SIZE)], &mut bitmap).unwrap();
        assert_eq!(fa.total_frames(), 15);
        assert_eq!(fa.alloc(16, 1), None);
        let run = fa.alloc(15, 1).unwrap();
        assert_eq!(run, FRAME_SIZE);
        assert_eq!(fa.alloc(1, 1), None);
        // Frames 6 and 7: a 2-frame run, aligned to 2 frames.
        fa.free(run + 5 * FRAME_SIZE, 2).unwrap();
        assert_eq!(fa.alloc(3, 1), None);
        assert_eq!(fa.alloc(2, 2), Some(run + 5 * FRAME_SIZE));
        assert_eq!(fa.free_frames(), 0);
    }

    #[test]
    fn bad_frees_are_refused_without_change() {
        let usable = [r(0x10_0000, 0x20_0000), r(0x30_0000, 0x40_0000)];
        let reserved = [r(0x18_0000, 0x19_0000)];
        let mut bitmap = bitmap_for(&usable);
        let mut fa = FrameAllocator::new(&usable, &reserved, &mut bitmap).unwrap();
        let a = fa.alloc(4, 1).unwrap();
        let before = (fa.free_map.to_vec(), fa.free);
        let cases = [
            (a + 1, 1, FrameError::Unaligned { pa: a + 1 }),
            (a, 0, FrameError::EmptyRun),
            (
                a,
                5,
                FrameError::NotAllocated {
                    pa: a + 4 * FRAME_SIZE,
                },
            ),
            (
                a + 4 * FRAME_SIZE,
                1,
                FrameError::NotAllocated {
                    pa: a + 4 * FRAME_SIZE,
                },
            ),
            (0x8_0000, 1, FrameError::OutOfSpan { pa: 0x8_0000 }),
            (0x3f_f000, 2, FrameError::OutOfSpan { pa: 0x3f_f000 }),
            (0x1f_f000, 2, FrameError::NotAllocated { pa: 0x1f_f000 }),
            (0x20_0000, 1, FrameError::NotUsable { pa: 0x20_0000 }),
            (
                a + 3 * FRAME_SIZE,
                2,
                FrameError::NotAllocated {
                    pa: a + 4 * FRAME_SIZE,
                },
            ),
            (0x18_0000, 1, FrameError::NotUsable { pa: 0x18_0000 }),
            (
                !FRAME_MASK,
                usize::MAX,
                FrameError::OutOfSpan { pa: !FRAME_MASK },
            ),
        ];
        for (pa, count, err) in cases {
            assert_eq!(fa.free(pa, count), Err(err), "free({pa:#x}, {count})");
            assert_eq!(
                (fa.free_map.to_vec(), fa.free),
                before,
                "free({pa:#x}, {count}) changed state"
            );
        }
        fa.free(a, 4).unwrap();
        assert_eq!(fa.free(a, 4), Err(FrameError::NotAllocated { pa: a }));
        assert_eq!(fa.free_frames(), fa.total_frames());
    }

    #[test]
    fn randomized_against_a_model() {
        // Three banks with holes and reserved pieces; base not 2 MiB aligned.
        let usable = [
            r(0x4000_3000, 0x4040_0000),
            r(0x4060_0000, 0x40a0_0800),
            r(0x40c0_0000, 0x40c1_0000),
        ];
        let reserved = [r(0x4010_0000, 0x4010_5000), r(0x4070_0123, 0x4071_0000)];
        let mut bitmap = bitmap_for(&usable);
        let mut fa = FrameAllocator::new(&usable, &reserved, &mut bitmap).unwrap();
        let base = fa.span().start;
        let frames = (fa.span().len() / FRAME_SIZE) as usize;
        let pa_at = |i: usize| base + i as u64 * FRAME_SIZE;
        let owned: Vec<bool> = (0..frames)
            .map(|i| {
                let pa = pa_at(i);
                usable.iter().any(|u| u.align_in().contains(pa))
                    && !reserved.iter().any(|x| x.align_out().contains(pa))
            })
            .collect();
        let mut model_free = owned.clone();
        assert_eq!(fa.total_frames(), owned.iter().filter(|&&o| o).count());
        let mut live: Vec<(u64, usize)> = Vec::new();
        let mut rng = Lcg(0x5eed);
        for step in 0..6000 {
            match rng.below(10) {
                0..=4 => {
                    let (count, align) = match rng.below(8) {
                        0 => (512, 512),
                        1 => (1 + rng.below(40) as usize, 1 << rng.below(5)),
                        _ => (1, 1),
                    };
                    let got = fa.alloc(count, align);
                    let fits = |s: usize| {
                        (base / FRAME_SIZE + s as u64).is_multiple_of(align as u64)
                            && model_free[s..s + count].iter().all(|&f| f)
                    };
                    match got {
                        Some(pa) => {
                            assert_eq!(pa % (align as u64 * FRAME_SIZE), 0, "step {step}");
                            let s = ((pa - base) / FRAME_SIZE) as usize;
                            assert!(
                                s + count <= frames && fits(s),
                                "step {step}: bad run {pa:#x}+{count}"
                            );
                            model_free[s..s + count].iter_mut().for_each(|f| *f = false);
                            live.push((pa, count));
                        }
                        None => {
                            let any = (0..frames.saturating_sub(count - 1)).any(fits);
                            assert!(
                                !any,
                                "step {step}: alloc({count}, {align}) failed but a run exists"
                            );
                        }
                    }
                }
                5..=8 if !live.is_empty() => {
                    let (pa, count) = live.swap_remove(rng.below(live.len() as u64) as usize);
                    fa.free(pa, count).unwrap();
                    let s = ((pa - base) / FRAME_SIZE) as usize;
                    model_free[s..s + count].iter_mut().for_each(|f| *f = true);
                }
                _ => {
                    // A random free that the model says must fail, or a legal one.
                    let s = rng.below(frames as u64) as usize;
                    let count = 1 + rng.below(4) as usize;
                    let legal =
                        s + count <= frames && (s..s + count).all(|i| owned[i] && !model_free[i]);
                    if !legal {
                        let before = fa.free_map.to_vec();
                        assert!(fa.free(pa_at(s), count).is_err(), "step {step}");
                        assert_eq!(fa.free_map.to_vec(), before);
                    }
                }
            }
            assert_eq!(
                fa.free_frames(),
                model_free.iter().filter(|&&f| f).count(),
                "step {step}"
            );
        }
        for (pa, count) in live {
            fa.free(pa, count).unwrap();
        }
        assert_eq!(fa.free_frames(), fa.total_frames());
    }

    #[test]
    fn concurrent_threads_never_share_a_frame() {
        let usable = [r(0x8000_0000, 0x8000_0000 + 64 * MIB)];
        let mut bitmap = bitmap_for(&usable);
        let fa = FrameAllocator::new(&usable, &[], &mut bitmap).unwrap();
        let start_free = fa.free_frames();
        let fa = Mutex::new(fa);
        let handed_out = Mutex::new(HashSet::new());
        std::thread::scope(|s| {
            for t in 0..6u64 {
                let (fa, handed_out) = (&fa, &handed_out);
                s.spawn(move || {
                    let mut rng = Lcg(t + 1);
                    let mut mine: Vec<(u64, usize)> = Vec::new();
                    for _ in 0..3000 {
                        if mine.len() < 64 && rng.below(3) != 0 {
                            let (count, align) = if rng.below(16) == 0 {
                                (512, 512)
                            } else {
                                (1 + rng.below(3) as usize, 1)
                            };
                            let Some(pa) = fa.lock().unwrap().alloc(count, align) else {
                                continue;
                            };
                            let mut set = handed_out.lock().unwrap();
                            for i in 0..count as u64 {
                                assert!(
                                    set.insert(pa + i * FRAME_SIZE),
                                    "frame {:#x} handed out twice",
                                    pa + i * FRAME_SIZE
                                );
                            }
                            drop(set);
                            mine.push((pa, count));
                        } else if let Some((pa, count)) = mine.pop() {
                            let mut set = handed_out.lock().unwrap();
                            (0..count as u64)
                                .for_each(|i| assert!(set.remove(&(pa + i * FRAME_SIZE))));
                            drop(set);
                            fa.lock().unwrap().free(pa, count).unwrap();
                        }
                    }
                    for (pa, count) in mine {
                        let mut set = handed_out.lock().unwrap();
                        (0..count as u64).for_each(|i| assert!(set.remove(&(pa + i * FRAME_SIZE))));
                        drop(set);
                        fa.lock().unwrap().free(pa, count).unwrap();
                    }
                });
            }
        });
        assert!(handed_out.lock().unwrap().is_empty());
        assert_eq!(fa.lock().unwrap().free_frames(), start_free);
    }
}
