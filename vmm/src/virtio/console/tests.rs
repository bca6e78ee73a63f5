//! Console tests: input into receive buffers, output from transmit buffers, back-pressure,
//! emergency writes and broken requests.

use super::*;
use crate::bus::AccessWidth::{Byte, Word};
use crate::bus::MmioDevice;
use crate::virtio::device::VIRTIO_F_VERSION_1;
use crate::virtio::memory::{GuestMemory, VecMemory};
use crate::virtio::mmio::{VirtioMmio, STATUS_NEEDS_RESET};
use crate::virtio::testing::{memory, start_device, DriverQueue, Line, BUFFERS};

const NOTIFY: u64 = 0x050;

struct Setup {
    dev: VirtioMmio<VirtioConsole>,
    rx: DriverQueue,
    tx: DriverQueue,
    mem: VecMemory,
    line: Line,
}

fn setup() -> Setup {
    let mut dev = VirtioMmio::new(VirtioConsole::new(), 49);
    let mut line = Line::default();
    let mut queues = start_device(&mut dev, &mut line, VIRTIO_F_VERSION_1 | VIRTIO_CONSOLE_F_EMERG_WRITE);
    let tx = queues.pop().unwrap();
    let rx = queues.pop().unwrap();
    let mut setup = Setup { dev, rx, tx, mem: memory(), line };
    setup.process();
    setup
}

impl Setup {
    fn process(&mut self) -> bool {
        self.dev.process(&mut self.mem, &mut self.line)
    }

    fn notify(&mut self, queue: u16) {
        self.dev.write(NOTIFY, Word, u64::from(queue), &mut self.line).unwrap();
    }

    fn post_receive(&mut self, addr: u64, len: u32) -> u16 {
        self.rx.add_chain(&mut self.mem, &[(addr, len, true)])
    }

    fn transmit(&mut self, addr: u64, bytes: &[u8]) -> u16 {
        self.mem.write(addr, bytes).unwrap();
        self.tx.add_chain(&mut self.mem, &[(addr, bytes.len() as u32, false)])
    }

    fn bytes(&self, addr: u64, len: usize) -> &[u8] {
        let start = (addr - self.mem.base()) as usize;
        &self.mem.bytes()[start..start + len]
    }
}

#[test]
fn typed_input_fills_posted_receive_buffers() {
    let mut s = setup();
    let first = s.post_receive(BUFFERS, 4);
    let second = s.post_receive(BUFFERS + 0x100, 8);
    s.notify(RECEIVE_QUEUE);
    s.process();
    assert!(s.rx.take_used(&mut s.mem).is_empty(), "no input yet");

    assert_eq!(s.dev.device_mut().push_input(b"hello"), 5);
    assert!(s.dev.needs_processing(), "input is host work");
    assert!(!s.process());
    assert_eq!(s.rx.take_used(&mut s.mem), [(u32::from(first), 4), (u32::from(second), 1)]);
    assert_eq!(s.bytes(BUFFERS, 4), b"hell");
    assert_eq!(s.bytes(BUFFERS + 0x100, 1), b"o");
    assert!(s.line.high());
}

#[test]
fn input_waits_for_buffers() {
    let mut s = setup();
    s.dev.device_mut().push_input(b"ls\n");
    assert!(s.dev.needs_processing());
    assert!(!s.process(), "no buffers: nothing to do until the guest posts some");
    assert!(!s.dev.needs_processing(), "and the task is not kept busy");
    s.post_receive(BUFFERS, 64);
    s.notify(RECEIVE_QUEUE);
    s.process();
    assert_eq!(s.rx.take_used(&mut s.mem), [(0, 3)]);
    assert_eq!(s.bytes(BUFFERS, 3), b"ls\n");
}

#[test]
fn input_is_bounded_and_survives_the_deque_wrapping() {
    let mut s = setup();
    let console = s.dev.device_mut();
    assert_eq!(console.push_input(&[b'x'; INPUT_BYTES + 10]), INPUT_BYTES);
    assert_eq!(console.input_room(), 0);
    s.post_receive(BUFFERS, 3000);
    s.process();
    assert_eq!(s.rx.take_used(&mut s.mem), [(0, 3000)]);
    // The deque's free space now wraps around its end.
    let pattern: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(s.dev.device_mut().push_input(&pattern), 3000);
    s.post_receive(BUFFERS + 0x1_0000, 8192);
    s.notify(RECEIVE_QUEUE);
    s.process();
    assert_eq!(s.rx.take_used(&mut s.mem), [(1, INPUT_BYTES as u32 - 3000 + 3000)]);
    assert_eq!(s.bytes(BUFFERS + 0x1_0000, 1096), [b'x'; 1096]);
    assert_eq!(s.bytes(BUFFERS + 0x1_0000 + 1096, 3000), pattern);
}

#[test]
fn transmitted_bytes_reach_the_host() {
    let mut s = setup();
    let head = s.transmit(BUFFERS, b"Linux version");
    s.mem.write(BUFFERS + 0x100, b" 6.1").unwrap();
    s.mem.write(BUFFERS + 0x200, b"\n").unwrap();
    let two = s.tx.add_chain(&mut s.mem, &[(BUFFERS + 0x100, 4, false), (BUFFERS + 0x200, 1, false)]);
    s.notify(TRANSMIT_QUEUE);
    s.process();
    assert_eq!(s.dev.device_mut().take_output(), b"Linux version 6.1\n");
    assert_eq!(s.tx.take_used(&mut s.mem), [(u32::from(head), 0), (u32::from(two), 0)]);
    assert!(s.dev.device_mut().take_output().is_empty());
}

#[test]
fn a_full_output_buffer_pauses_transmission_without_loss() {
    let mut s = setup();
    let chunk = [b'y'; 4096];
    let chains = OUTPUT_BYTES / chunk.len() + 2;
    for i in 0..chains {
        s.transmit(BUFFERS + 0x1000 * i as u64, &chunk);
    }
    s.notify(TRANSMIT_QUEUE);
    assert!(!s.process());
    assert_eq!(s.tx.take_used(&mut s.mem).len(), OUTPUT_BYTES / chunk.len());
    assert!(!s.dev.needs_processing(), "paused until the host drains");
    assert_eq!(s.dev.device_mut().take_output().len(), OUTPUT_BYTES);
    assert!(s.dev.needs_processing(), "draining resumes it");
    s.process();
    assert_eq!(s.tx.take_used(&mut s.mem).len(), 2);
    assert_eq!(s.dev.device_mut().take_output().len(), 2 * chunk.len());
    assert_eq!(s.dev.device().dropped_output(), 0);
}

#[test]
fn an_oversized_transmit_chain_is_cut_and_counted() {
    let mut s = setup();
    s.tx.add_chain(&mut s.mem, &[(BUFFERS, MAX_TRANSMIT_BYTES + 100, false)]);
    s.notify(TRANSMIT_QUEUE);
    s.process();
    assert_eq!(s.dev.device_mut().take_output().len(), MAX_TRANSMIT_BYTES as usize);
    assert_eq!(s.dev.device().dropped_output(), 100);
}

#[test]
fn buffers_of_the_wrong_direction_break_the_device() {
    let mut s = setup();
    s.tx.add_chain(&mut s.mem, &[(BUFFERS, 1, false), (BUFFERS + 0x10, 1, true)]);
    s.notify(TRANSMIT_QUEUE);
    s.process();
    assert_eq!(s.dev.status() & STATUS_NEEDS_RESET, STATUS_NEEDS_RESET);

    let mut s = setup();
    s.rx.add_chain(&mut s.mem, &[(BUFFERS, 1, false), (BUFFERS + 0x10, 1, true)]);
    s.dev.device_mut().push_input(b"x");
    s.process();
    assert_eq!(s.dev.status() & STATUS_NEEDS_RESET, STATUS_NEEDS_RESET);
}

#[test]
fn emergency_writes_and_config() {
    let mut s = setup();
    assert_eq!(s.dev.read(0x100, Word, &mut s.line), Ok(0), "no size offered: cols and rows 0");
    s.dev.write(0x108, Word, u64::from(b'!'), &mut s.line).unwrap();
    s.dev.write(0x108, Byte, u64::from(b'?'), &mut s.line).unwrap();
    assert_eq!(s.dev.device_mut().take_output(), b"!?");
    assert_eq!(s.dev.read(0x108, Word, &mut s.line), Ok(0), "emerg_wr reads as 0");
    s.dev.write(0x100, Word, 80, &mut s.line).unwrap();
    assert_eq!(s.dev.read(0x100, Word, &mut s.line), Ok(0), "cols and rows are read-only");
    assert_eq!(s.dev.counters().guest_errors, 1);
    assert_eq!(s.dev.read(0x10c, Word, &mut s.line), Ok(0xffff_ffff), "past the 12-byte config");
}

#[test]
fn a_reset_keeps_host_input() {
    let mut s = setup();
    s.dev.device_mut().push_input(b"early");
    s.dev.write(0x070, Word, 0, &mut s.line).unwrap();
    let mut queues = start_device(&mut s.dev, &mut s.line, VIRTIO_F_VERSION_1);
    queues[0].add_chain(&mut s.mem, &[(BUFFERS, 16, true)]);
    assert!(s.dev.needs_processing());
    s.process();
    assert_eq!(queues[0].take_used(&mut s.mem), [(0, 5)]);
    assert_eq!(s.bytes(BUFFERS, 5), b"early");
}
