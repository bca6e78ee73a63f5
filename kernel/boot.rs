//! The boot CPU's path from its first Rust instruction to a running system.

use crate::arch::{boot::image_layout, cpu, smp, timer};
use crate::cmdline::Options;
use crate::mm::frames::PhysRange;
use crate::mm::kernel_space::{self, BootMemory};
use crate::mm::layout::phys_to_virt;
use crate::{console, irq, kprintln, logger, power};
use core::sync::atomic::Ordering;
use keel_drivers::gicv3::Trigger;
use keel_drivers::cpu_model::cpu_model_name;
use keel_drivers::platform::Platform;
use keel_drivers::psci::Psci;

/// Largest DTB Keel accepts.
const DTB_MAX: usize = 2 << 20;

/// The DTB the loader passed, through the boot linear map.
fn dtb_slice(dtb_pa: u64) -> Option<&'static [u8]> {
    let va = phys_to_virt(dtb_pa)?;
    if dtb_pa == 0 || va % 8 != 0 {
        return None;
    }
    // SAFETY: the loader placed a DTB at `dtb_pa` in RAM (arm64 boot protocol), and the
    // boot tables map all low RAM through the linear map; 8 header bytes are readable.
    let header = unsafe { core::slice::from_raw_parts(va as *const u8, 8) };
    if header[..4] != [0xd0, 0x0d, 0xfe, 0xed] {
        return None;
    }
    let total = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if !(8..=DTB_MAX).contains(&total) {
        return None;
    }
    // SAFETY: as above; the header says the blob is `total` bytes long, and the kernel
    // never writes to it (its frames are reserved).
    Some(unsafe { core::slice::from_raw_parts(va as *const u8, total) })
}

/// Stops the boot with a reason, powering off when PSCI is known.
fn refuse(why: core::fmt::Arguments<'_>) -> ! {
    kprintln!("keel: cannot boot: {why}");
    power::power_off()
}

#[unsafe(no_mangle)]
extern "C" fn keel_primary_main(dtb_pa: u64, phys_base: u64) -> ! {
    cpu::set_current(0);
    let Some(dtb) = dtb_slice(dtb_pa) else {
        // No DTB means no console either: nothing can be said.
        cpu::halt()
    };
    let platform = match Platform::parse(dtb) {
        Ok(platform) => platform,
        Err(_) => cpu::halt(),
    };
    if let Some(uart) = platform.uart {
        if let Some(va) = phys_to_virt(uart.base) {
            // SAFETY: the DTB names this PL011; the boot tables map the low GiB as device
            // memory in the linear window, and the final tables map it again below.
            unsafe { console::init(va as usize) };
        }
    }
    if let Some(conduit) = platform.psci {
        power::init(Psci::new(conduit));
    }
    let options = Options::parse(platform.bootargs.unwrap_or(""));
    logger::init(logger::level_named(options.log_level));
    if let Some(leaves) = options.stage2_leaves {
        crate::vm::memory::set_stage2_leaves(leaves);
    }

    setup_memory(&platform, dtb_pa, dtb.len() as u64, phys_base);
    setup_interrupts(&platform);
    crate::arch::guest::init_this_cpu();
    crate::sched::init_this_cpu();
    cpu::current().online.store(true, Ordering::Release);
    start_secondaries(&platform, phys_base);

    let ram_mib = kernel_space::ram_bytes() >> 20;
    kprintln!(
        "keel: EL2 VHE (E2H=1 TGE=1) {} x{}, {} MiB",
        cpu_model_name(cpu::midr()),
        cpu::online_count(),
        ram_mib
    );
    for online in cpu::online().map(|c| c.index).collect::<alloc::vec::Vec<_>>() {
        crate::exec::start_on(online);
    }
    if options.selftest {
        let tests = crate::sched::spawn_kernel("selftest", || {
            crate::selftest::run();
            power::power_off();
        });
        if tests.is_none() {
            refuse(format_args!("no memory for the self-test thread"));
        }
        smp::idle_loop();
    }
    crate::exec::spawn(console::feed_readers());
    crate::virtio::init(&platform);
    crate::net::start(&platform);
    start_init(&platform);
    smp::idle_loop()
}

/// Starts `/init` from the initrd as process 1.
fn start_init(platform: &Platform<'_>) {
    let Some(initrd) = platform.initrd else {
        kprintln!("keel: no initrd: nothing to run (scripts/run passes one)");
        return;
    };
    let Some(va) = phys_to_virt(initrd.base) else { return };
    // SAFETY: the loader placed the initrd at this range of RAM (named in /chosen); its
    // frames are reserved, so nothing else writes them, and the linear map covers them.
    let bytes = unsafe { core::slice::from_raw_parts(va as *const u8, initrd.size as usize) };
    crate::fs::set_initrd(bytes);
    // The VMs of /etc/vms.conf (the default guest `linux` among them) are defined by init.
    let args = [alloc::string::String::from("init")];
    if let Err(error) = crate::proc::spawn("/init", &args, 0) {
        kprintln!("keel: cannot start /init: {error}");
    }
}

fn setup_memory(platform: &Platform<'_>, dtb_pa: u64, dtb_len: u64, phys_base: u64) {
    let mut ram = [PhysRange::new(0, 0); 8];
    let mut ram_count = 0;
    for range in platform.memory.as_slice() {
        if ram_count < ram.len() {
            ram[ram_count] = PhysRange::new(range.base, range.end());
            ram_count += 1;
        }
    }
    let image = image_layout();
    let mut reserved = [PhysRange::new(0, 0); 24];
    let mut reserved_count = 0;
    let mut reserve = |range: PhysRange| {
        if reserved_count < reserved.len() {
            reserved[reserved_count] = range;
            reserved_count += 1;
        }
    };
    reserve(PhysRange::new(phys_base, phys_base + (image.end - image.start)));
    reserve(PhysRange::new(dtb_pa, dtb_pa + dtb_len));
    for range in platform.initrd.iter().chain(platform.reserved.as_slice()) {
        reserve(PhysRange::new(range.base, range.end()));
    }
    let mut devices = [PhysRange::new(0, 0); 4];
    let mut device_count = 0;
    if let Some(uart) = platform.uart {
        devices[device_count] = PhysRange::new(uart.base, uart.base + uart.size);
        device_count += 1;
    }
    let memory = BootMemory { ram: &ram[..ram_count], reserved: &reserved[..reserved_count], phys_base };
    if let Err(error) = kernel_space::init(&memory, &devices[..device_count]) {
        refuse(format_args!("memory setup failed: {error:?}"));
    }
    let ram_bytes = kernel_space::ram_bytes() as usize;
    let heap_bytes = (ram_bytes / 16).clamp(4 << 20, 64 << 20);
    if crate::mm::heap::init(heap_bytes).is_none() {
        refuse(format_args!("no memory for a {} MiB kernel heap", heap_bytes >> 20));
    }
}

fn setup_interrupts(platform: &Platform<'_>) {
    let Some(gic) = platform.gic else {
        refuse(format_args!("the device tree describes no GICv3 (QEMU needs -M virt,gic-version=3)"));
    };
    let (dist, redist) = (gic.distributor, gic.redistributors);
    let (Ok(dist_va), Ok(redist_va)) =
        (kernel_space::map_device(dist.base, dist.size), kernel_space::map_device(redist.base, redist.size))
    else {
        refuse(format_args!("cannot map the GIC"));
    };
    // SAFETY: both regions come from the DTB's GICv3 node and were just mapped as device
    // memory; nothing else drives the GIC.
    unsafe { irq::init(dist_va, redist_va, redist.size as usize) };
    let Some(timer_irqs) = platform.timer else {
        refuse(format_args!("the device tree describes no architected timer"));
    };
    irq::register_private(smp::SGI_WORK, irq::on_ipi);
    irq::register_private(crate::sched::SGI_RESCHED, crate::sched::on_resched_ipi);
    irq::register_private(keel_vmm::layout::VTIMER_INTID, irq::on_guest_interrupt);
    irq::register_private(keel_vmm::layout::MAINTENANCE_INTID, irq::on_guest_interrupt);
    irq::register_private(timer_irqs.hyp_phys, timer::on_tick);
    if let Some(intid) = platform.uart.and_then(|uart| uart.intid) {
        irq::register_shared(intid, Trigger::Level, console::on_receive);
        console::enable_receive_interrupt();
    }
    if let Some(button) = platform.power_button {
        let pin = keel_drivers::pl061::GpioPin::new(button.pin);
        match (kernel_space::map_device(button.gpio.base, button.gpio.size), pin, button.gpio.intid) {
            (Ok(va), Some(pin), Some(intid)) => {
                // SAFETY: the DTB's PL061, just mapped as device memory, driven only here.
                let gpio = unsafe { keel_drivers::pl061::Pl061::new(va) };
                power::init_power_button(gpio, pin, intid);
            }
            _ => log::warn!("boot: the power button in the device tree cannot be used"),
        }
    }
    timer::arm_next_tick();
    cpu::irq_enable();
}

fn start_secondaries(platform: &Platform<'_>, phys_base: u64) {
    let Some(psci) = power::psci() else {
        if platform.cpus.as_slice().len() > 1 {
            log::warn!("boot: no PSCI in the device tree; running on one CPU");
        }
        return;
    };
    let boot_mpidr = cpu::mpidr();
    let mut next_index = 1;
    for &mpidr in platform.cpus.as_slice() {
        if mpidr == boot_mpidr {
            continue;
        }
        if next_index >= cpu::MAX_CPUS {
            log::warn!("boot: more than {} CPUs; the rest stay off", cpu::MAX_CPUS);
            break;
        }
        match smp::start_cpu(psci, next_index, mpidr, kernel_space::kernel_root(), phys_base) {
            Ok(()) => next_index += 1,
            Err(error) => kprintln!("keel: cpu with MPIDR {mpidr:#x} not started: {error}"),
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    cpu::irq_save();
    let index = cpu::current().index;
    console::force_print(format_args!("keel: PANIC on cpu {index}: {info}\n"));
    cpu::current().online.store(false, Ordering::Release);
    cpu::halt()
}
