//! The heap: talc over a 1 MiB arena in .bss (Keel has no call that grows memory).

use talc::source::Claim;
use talc::TalcLock;

const ARENA_SIZE: usize = 1 << 20;

static mut ARENA: [u8; ARENA_SIZE] = [0; ARENA_SIZE];

#[global_allocator]
static HEAP: TalcLock<spin::mutex::SpinMutex<()>, Claim> =
    // SAFETY: ARENA is used by nothing but this allocator (no other code names it), lives
    // for the whole program, and is claimed once, on the first allocation.
    TalcLock::new(unsafe { Claim::array(&raw mut ARENA) });
