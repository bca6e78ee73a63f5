//! Queue tests: setup checks, chains, indirect tables, the used ring, interrupt suppression,
//! and what a hostile driver can put in the rings.

use super::*;
use crate::virtio::memory::{MemoryError, VecMemory};
use crate::virtio::testing::{memory, DriverQueue, BUFFERS, RAM, RAM_BYTES};

const SIZE: u16 = 8;

/// A ready queue of SIZE entries with rings at RAM, and the driver's side of it.
fn ready_queue(features: RingFeatures) -> (Queue, DriverQueue, VecMemory) {
    let driver = DriverQueue::new(RAM, SIZE);
    let mut queue = Queue::new(256);
    queue.set_size(SIZE);
    queue.set_desc_table(driver.desc);
    queue.set_avail_ring(driver.avail);
    queue.set_used_ring(driver.used);
    queue.set_features(features);
    queue.enable().unwrap();
    (queue, driver, memory())
}

fn plain() -> RingFeatures {
    RingFeatures::default()
}

fn indirect() -> RingFeatures {
    RingFeatures { indirect: true, event_idx: false }
}

fn pop_err(queue: &mut Queue, mem: &mut VecMemory) -> QueueError {
    queue.pop(mem).expect_err("the chain must be refused")
}

#[test]
fn size_must_be_a_nonzero_power_of_two_up_to_the_maximum() {
    let mut queue = Queue::new(256);
    assert_eq!(queue.size(), 256, "QueueNum starts at the maximum");
    for size in [0, 3, 100, 512] {
        queue.set_size(size);
        assert_eq!(queue.enable(), Err(QueueError::SizeInvalid { size, max: 256 }));
        assert!(!queue.is_ready());
    }
    queue.set_size(1);
    assert_eq!(queue.enable(), Ok(()));
    assert_eq!(Queue::new(u16::MAX).max_size(), MAX_QUEUE_SIZE);
}

#[test]
fn rings_must_be_aligned() {
    for (area, desc, avail, used) in [
        (RingArea::DescriptorTable, RAM + 8, RAM + 0x100, RAM + 0x200),
        (RingArea::AvailRing, RAM, RAM + 0x101, RAM + 0x200),
        (RingArea::UsedRing, RAM, RAM + 0x100, RAM + 0x202),
    ] {
        let mut queue = Queue::new(8);
        queue.set_desc_table(desc);
        queue.set_avail_ring(avail);
        queue.set_used_ring(used);
        let ipa = [desc, avail, used][area as usize];
        assert_eq!(queue.enable(), Err(QueueError::Misaligned { area, ipa }));
    }
}

#[test]
fn rings_outside_memory_are_refused_on_first_use() {
    let mut mem = memory();
    let end = RAM + RAM_BYTES as u64;
    for (area, desc, avail, used) in [
        (RingArea::DescriptorTable, end - 16 * 4, RAM + 0x100, RAM + 0x200),
        (RingArea::AvailRing, RAM, end - 2, RAM + 0x200),
        (RingArea::UsedRing, RAM, RAM + 0x100, end - 8 * 8),
        (RingArea::DescriptorTable, u64::MAX - 15, RAM + 0x100, RAM + 0x200),
        (RingArea::UsedRing, RAM, RAM + 0x100, 0),
    ] {
        let mut queue = Queue::new(8);
        queue.set_desc_table(desc);
        queue.set_avail_ring(avail);
        queue.set_used_ring(used);
        queue.enable().unwrap();
        let ipa = [desc, avail, used][area as usize];
        assert_eq!(queue.pop(&mut mem), Err(QueueError::RingOutsideMemory { area, ipa }));
        assert_eq!(queue.add_used(&mut mem, 0, 0), Err(QueueError::RingOutsideMemory { area, ipa }));
    }
    assert_eq!(mem.refused(), 0, "nothing was touched");
}

#[test]
fn setup_is_fixed_while_ready() {
    let (mut queue, driver, _) = ready_queue(plain());
    queue.set_size(2);
    queue.set_desc_table(0x1234);
    assert_eq!((queue.size(), queue.desc_table()), (SIZE, driver.desc));
    queue.disable();
    queue.set_size(2);
    assert_eq!(queue.size(), 2);
}

#[test]
fn pops_a_chain_reads_and_writes_it_and_returns_it() {
    let (mut queue, mut driver, mut mem) = ready_queue(plain());
    assert_eq!(queue.pop(&mut mem), Ok(None));
    mem.write(BUFFERS, b"hello, ").unwrap();
    mem.write(BUFFERS + 0x100, b"world").unwrap();
    let head = driver.add_chain(
        &mut mem,
        &[(BUFFERS, 7, false), (BUFFERS + 0x100, 5, false), (BUFFERS + 0x200, 4, true), (BUFFERS + 0x300, 8, true)],
    );
    let chain = queue.pop(&mut mem).unwrap().unwrap();
    assert_eq!(chain.head(), head);
    assert_eq!((chain.readable_len(), chain.writable_len()), (12, 12));
    assert_eq!(chain.segments().len(), 4);

    let mut all = [0u8; 16];
    assert_eq!(chain.read_at(&mut mem, 0, &mut all), Ok(12));
    assert_eq!(&all[..12], b"hello, world");
    let mut middle = [0u8; 4];
    assert_eq!(chain.read_at(&mut mem, 5, &mut middle), Ok(4));
    assert_eq!(&middle, b", wo");
    assert_eq!(chain.read_at(&mut mem, 12, &mut middle), Ok(0), "past the end");
    assert_eq!(chain.read_at(&mut mem, u32::MAX, &mut middle), Ok(0));

    assert_eq!(chain.write_at(&mut mem, 2, b"0123456789abcdef"), Ok(10));
    assert_eq!(&mem.bytes()[0x8_0200..0x8_0204], &[0, 0, b'0', b'1']);
    assert_eq!(&mem.bytes()[0x8_0300..0x8_0308], b"23456789");

    queue.add_used(&mut mem, chain.head(), 12).unwrap();
    assert_eq!(driver.take_used(&mut mem), vec![(u32::from(head), 12)]);
    assert_eq!(queue.pop(&mut mem), Ok(None));
}

#[test]
fn indices_wrap_around_the_ring_and_u16() {
    let (mut queue, mut driver, mut mem) = ready_queue(plain());
    for round in 0..23_334 {
        for i in 0..3u32 {
            driver.add_chain(&mut mem, &[(BUFFERS, 1, true)]);
            let chain = queue.pop(&mut mem).unwrap().unwrap();
            queue.add_used(&mut mem, chain.head(), i).unwrap();
        }
        assert_eq!(driver.take_used(&mut mem).len(), 3, "round {round}");
    }
    assert_eq!(queue.next_avail(), queue.next_used());
    assert!(queue.next_used() < 20_000, "the indices wrapped");
}

#[test]
fn zero_length_buffers_are_skipped() {
    let (mut queue, mut driver, mut mem) = ready_queue(plain());
    driver.add_chain(&mut mem, &[(u64::MAX, 0, false), (BUFFERS, 4, true)]);
    let chain = queue.pop(&mut mem).unwrap().unwrap();
    assert_eq!(chain.segments(), &[Segment { ipa: BUFFERS, len: 4, writable: true }]);
}

#[test]
fn indirect_tables() {
    let (mut queue, mut driver, mut mem) = ready_queue(indirect());
    let table = DriverQueue::new(BUFFERS + 0x1000, 4);
    table.write_desc(&mut mem, 0, BUFFERS, 3, DESC_F_NEXT, 2);
    table.write_desc(&mut mem, 2, BUFFERS + 0x10, 5, DESC_F_WRITE | DESC_F_NEXT, 1);
    table.write_desc(&mut mem, 1, BUFFERS + 0x20, 6, DESC_F_WRITE, 0);
    // Direct descriptors may lead to the indirect one; its WRITE flag is ignored.
    driver.write_desc(&mut mem, 0, BUFFERS + 0x30, 1, DESC_F_NEXT, 5);
    driver.write_desc(&mut mem, 5, table.desc, 64, DESC_F_INDIRECT | DESC_F_WRITE, 0);
    driver.publish(&mut mem, 0);
    let chain = queue.pop(&mut mem).unwrap().unwrap();
    assert_eq!(chain.head(), 0);
    assert_eq!((chain.readable_len(), chain.writable_len()), (4, 11));
    let ipas: Vec<u64> = chain.segments().iter().map(|s| s.ipa - BUFFERS).collect();
    assert_eq!(ipas, [0x30, 0, 0x10, 0x20]);
}

#[test]
fn indirect_rules_are_enforced() {
    let cases: [(u64, u32, u16, QueueError); 6] = [
        (BUFFERS, 32, DESC_F_INDIRECT | DESC_F_NEXT, QueueError::IndirectWithNext),
        (BUFFERS, 0, DESC_F_INDIRECT, QueueError::IndirectTableLength { len: 0 }),
        (BUFFERS, 17, DESC_F_INDIRECT, QueueError::IndirectTableLength { len: 17 }),
        (BUFFERS, 16 * 1025, DESC_F_INDIRECT, QueueError::IndirectTableLength { len: 16 * 1025 }),
        (
            RAM + RAM_BYTES as u64 - 16,
            32,
            DESC_F_INDIRECT,
            QueueError::BufferOutsideMemory { ipa: RAM + RAM_BYTES as u64 - 16, len: 32 },
        ),
        (u64::MAX - 15, 32, DESC_F_INDIRECT, QueueError::BufferOutsideMemory { ipa: u64::MAX - 15, len: 32 }),
    ];
    for (addr, len, flags, error) in cases {
        let (mut queue, mut driver, mut mem) = ready_queue(indirect());
        driver.write_desc(&mut mem, 0, addr, len, flags, 1);
        driver.publish(&mut mem, 0);
        assert_eq!(pop_err(&mut queue, &mut mem), error);
    }

    // Not negotiated.
    let (mut queue, mut driver, mut mem) = ready_queue(plain());
    driver.write_desc(&mut mem, 0, BUFFERS, 32, DESC_F_INDIRECT, 0);
    driver.publish(&mut mem, 0);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::IndirectNotNegotiated);

    // An indirect table pointing to another.
    let (mut queue, mut driver, mut mem) = ready_queue(indirect());
    let table = DriverQueue::new(BUFFERS, 2);
    table.write_desc(&mut mem, 0, BUFFERS + 0x100, 1, DESC_F_NEXT, 1);
    table.write_desc(&mut mem, 1, BUFFERS + 0x200, 32, DESC_F_INDIRECT, 0);
    driver.write_desc(&mut mem, 0, table.desc, 32, DESC_F_INDIRECT, 0);
    driver.publish(&mut mem, 0);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::NestedIndirect);
}

#[test]
fn loops_are_caught_in_the_ring_and_in_indirect_tables() {
    let (mut queue, mut driver, mut mem) = ready_queue(indirect());
    driver.write_desc(&mut mem, 3, BUFFERS, 1, DESC_F_NEXT, 3);
    driver.publish(&mut mem, 3);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::ChainTooLong { limit: u32::from(SIZE) });

    let (mut queue, mut driver, mut mem) = ready_queue(indirect());
    for i in 0..SIZE {
        driver.write_desc(&mut mem, i, BUFFERS, 1, DESC_F_NEXT, (i + 1) % SIZE);
    }
    driver.publish(&mut mem, 0);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::ChainTooLong { limit: u32::from(SIZE) });

    let (mut queue, mut driver, mut mem) = ready_queue(indirect());
    let table = DriverQueue::new(BUFFERS, 3);
    table.write_desc(&mut mem, 0, BUFFERS + 0x100, 1, DESC_F_NEXT, 1);
    table.write_desc(&mut mem, 1, BUFFERS + 0x100, 1, DESC_F_NEXT, 0);
    driver.write_desc(&mut mem, 0, table.desc, 48, DESC_F_INDIRECT, 0);
    driver.publish(&mut mem, 0);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::ChainTooLong { limit: 3 });
}

#[test]
fn indices_out_of_range_are_refused() {
    let (mut queue, mut driver, mut mem) = ready_queue(indirect());
    driver.publish(&mut mem, SIZE);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::HeadOutOfRange { head: SIZE, size: SIZE });

    let (mut queue, mut driver, mut mem) = ready_queue(indirect());
    driver.write_desc(&mut mem, 0, BUFFERS, 1, DESC_F_NEXT, u16::MAX);
    driver.publish(&mut mem, 0);
    let table_len = u32::from(SIZE);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::NextOutOfRange { next: u16::MAX, table_len });

    let (mut queue, mut driver, mut mem) = ready_queue(indirect());
    let table = DriverQueue::new(BUFFERS, 2);
    table.write_desc(&mut mem, 0, BUFFERS + 0x100, 1, DESC_F_NEXT, 2);
    driver.write_desc(&mut mem, 0, table.desc, 32, DESC_F_INDIRECT, 0);
    driver.publish(&mut mem, 0);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::NextOutOfRange { next: 2, table_len: 2 });
}

#[test]
fn readable_buffers_come_first() {
    let (mut queue, mut driver, mut mem) = ready_queue(plain());
    driver.add_chain(&mut mem, &[(BUFFERS, 4, true), (BUFFERS + 0x10, 4, false)]);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::ReadableAfterWritable);
}

#[test]
fn buffers_must_be_in_memory_and_not_too_large() {
    let end = RAM + RAM_BYTES as u64;
    for (buffers, error) in [
        (vec![(end - 4, 8, false)], QueueError::BufferOutsideMemory { ipa: end - 4, len: 8 }),
        (vec![(u64::MAX - 3, 8, true)], QueueError::BufferOutsideMemory { ipa: u64::MAX - 3, len: 8 }),
        (vec![(RAM - 1, 1, true)], QueueError::BufferOutsideMemory { ipa: RAM - 1, len: 1 }),
        (vec![(RAM, MAX_CHAIN_BYTES + 1, false)], QueueError::ChainTooLarge),
        (vec![(RAM, u32::MAX, true)], QueueError::ChainTooLarge),
    ] {
        let (mut queue, mut driver, mut mem) = ready_queue(plain());
        driver.add_chain(&mut mem, &buffers);
        assert_eq!(pop_err(&mut queue, &mut mem), error);
        assert_eq!(mem.refused(), 0, "checked before any access");
    }
}

#[test]
fn the_total_of_a_chain_is_bounded() {
    let (mut queue, mut driver, _) = ready_queue(plain());
    let mut mem = VecMemory::new(RAM, MAX_CHAIN_BYTES as usize + 0x1000);
    let big = 0x1000;
    // Exactly the limit, the same bytes twice over: fine.
    driver.add_chain(&mut mem, &[(RAM + big, MAX_CHAIN_BYTES - 16, false), (RAM + big, 16, true)]);
    let chain = queue.pop(&mut mem).unwrap().unwrap();
    assert_eq!(chain.readable_len() + chain.writable_len(), MAX_CHAIN_BYTES);
    driver.add_chain(&mut mem, &[(RAM + big, MAX_CHAIN_BYTES - 16, false), (RAM + big, 17, true)]);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::ChainTooLarge);
    let (mut queue, mut driver, _) = ready_queue(plain());
    driver.add_chain(&mut mem, &[(RAM + big, 16, false), (RAM, u32::MAX - 15, true)]);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::ChainTooLarge, "no u32 overflow");
}

#[test]
fn the_avail_index_may_not_run_ahead() {
    let (mut queue, mut driver, mut mem) = ready_queue(plain());
    driver.set_avail_idx(&mut mem, SIZE);
    assert!(queue.pop(&mut mem).unwrap().is_some(), "a full ring is fine");
    driver.set_avail_idx(&mut mem, SIZE + 2);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::AvailIndexJump { avail_idx: SIZE + 2, consumed: 1 });
    driver.set_avail_idx(&mut mem, 0);
    assert_eq!(pop_err(&mut queue, &mut mem), QueueError::AvailIndexJump { avail_idx: 0, consumed: 1 }, "backwards");
}

#[test]
fn refused_memory_is_an_error_not_a_panic() {
    let (mut queue, mut driver, mut mem) = ready_queue(plain());
    driver.add_chain(&mut mem, &[(BUFFERS, 8, true)]);
    mem.make_unavailable(BUFFERS, BUFFERS + 1);
    let chain = queue.pop(&mut mem).unwrap().unwrap();
    assert_eq!(chain.write_at(&mut mem, 0, b"x"), Err(QueueError::Memory(MemoryError::Unavailable { ipa: BUFFERS })));
    mem.make_unavailable(driver.used + 2, driver.used + 4);
    assert!(matches!(queue.add_used(&mut mem, 0, 0), Err(QueueError::Memory(_))));
    assert_eq!(queue.add_used(&mut mem, SIZE, 0), Err(QueueError::HeadOutOfRange { head: SIZE, size: SIZE }));
}

#[test]
fn no_interrupt_flag_suppresses_interrupts() {
    let (mut queue, mut driver, mut mem) = ready_queue(plain());
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(false), "nothing used yet");
    driver.add_chain(&mut mem, &[(BUFFERS, 1, true)]);
    let chain = queue.pop(&mut mem).unwrap().unwrap();
    queue.add_used(&mut mem, chain.head(), 1).unwrap();
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(true));
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(false), "already considered");

    driver.set_avail_flags(&mut mem, VRING_AVAIL_F_NO_INTERRUPT);
    driver.add_chain(&mut mem, &[(BUFFERS, 1, true)]);
    let chain = queue.pop(&mut mem).unwrap().unwrap();
    queue.add_used(&mut mem, chain.head(), 1).unwrap();
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(false));
}

#[test]
fn event_idx_interrupts_when_used_event_is_crossed() {
    let features = RingFeatures { indirect: false, event_idx: true };
    let (mut queue, mut driver, mut mem) = ready_queue(features);
    let complete = |queue: &mut Queue, driver: &mut DriverQueue, mem: &mut VecMemory, count: u16| {
        for _ in 0..count {
            driver.add_chain(mem, &[(BUFFERS, 1, true)]);
            let chain = queue.pop(mem).unwrap().unwrap();
            queue.add_used(mem, chain.head(), 0).unwrap();
        }
    };
    // used_event = 0: interrupt when used idx moves past 0.
    complete(&mut queue, &mut driver, &mut mem, 1);
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(true));
    // The driver wants to hear only after entry 4 (used idx 5).
    driver.set_used_event(&mut mem, 4);
    complete(&mut queue, &mut driver, &mut mem, 2);
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(false), "idx 3");
    complete(&mut queue, &mut driver, &mut mem, 1);
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(false), "idx 4");
    complete(&mut queue, &mut driver, &mut mem, 3);
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(true), "idx 7 crossed 4 in one batch");
    complete(&mut queue, &mut driver, &mut mem, 1);
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(false), "event 4 is behind");
    // The flags are ignored under EVENT_IDX.
    driver.set_used_event(&mut mem, 8);
    driver.set_avail_flags(&mut mem, VRING_AVAIL_F_NO_INTERRUPT);
    complete(&mut queue, &mut driver, &mut mem, 1);
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(true), "idx 9 crossed 8");
}

#[test]
fn event_idx_publishes_avail_event_when_the_queue_runs_dry() {
    let features = RingFeatures { indirect: false, event_idx: true };
    let (mut queue, mut driver, mut mem) = ready_queue(features);
    assert_eq!(queue.pop(&mut mem), Ok(None));
    assert_eq!(driver.avail_event(&mut mem), 0);
    for _ in 0..3 {
        driver.add_chain(&mut mem, &[(BUFFERS, 1, true)]);
    }
    while queue.pop(&mut mem).unwrap().is_some() {}
    assert_eq!(driver.avail_event(&mut mem), 3, "notify me when you add entry 3");
    assert_eq!(queue.next_avail(), 3);
}

#[test]
fn a_queue_that_is_not_ready_yields_nothing() {
    let mut queue = Queue::new(8);
    let mut mem = memory();
    assert_eq!(queue.pop(&mut mem), Ok(None));
    assert_eq!(queue.needs_interrupt(&mut mem), Ok(false));
    assert!(queue.add_used(&mut mem, 0, 0).is_err());
}
