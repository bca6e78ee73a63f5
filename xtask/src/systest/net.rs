//! The network cases: Keel's wan interface configured by DHCP from QEMU's user network,
//! `ping` to QEMU's gateway, the status page reached from the machine through the run
//! command's forward (a free port per case, so cases can run side by side), and the HTTP
//! server's limits seen from outside.
//!
//! While Keel runs, a thread of the harness plays the outside world: it fetches the page
//! from `127.0.0.1:PORT` with a plain TCP client, retrying until Keel's wan is up. Keel logs
//! each answered request at level info, which the script waits for before it ends.

use super::expect::Expect;
use super::{Case, Typing};
use crate::typing::Step::{self, Pause, Type, TypeAfter, TypeNow, WaitFor};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A case with a port of the machine forwarded to Keel.
pub struct NetCase {
    pub name: &'static str,
    /// Boots a Linux guest (left out with `--no-guests`).
    pub guest: bool,
    /// The case, given two free ports of the machine: the first for the status page.
    pub prepare: fn([u16; 2]) -> Case,
    /// Runs on the machine while Keel runs; its error fails the case.
    pub outside: fn([u16; 2]) -> Result<(), String>,
}

pub const NET_CASES: &[NetCase] = &[
    NetCase { name: "net-wan", guest: false, prepare: wan_case, outside: |ports| fetch_status(ports[0]) },
    NetCase { name: "net-guest", guest: true, prepare: guest_case, outside: |_| Ok(()) },
    NetCase { name: "net-guests-forward", guest: true, prepare: guests_case, outside: fetch_from_guest },
];

/// The guest's prompt, and how long a guest case may take in all (a guest boots in 10-60 s
/// under TCG).
const GUEST_PROMPT: &str = "guest# ";
const GUEST_TIMEOUT: &str = "300";

/// The default guest on the switch: a lease from Keel's DHCP server, ping to Keel, the
/// status page fetched with busybox wget; Keel sees the lease and the port's counters.
fn guest_case(_ports: [u16; 2]) -> Case {
    const STEPS: &[Step] = &[
        Type("vm start linux\n"),
        Type("vm console linux\n"),
        WaitFor("keel-guest: eth0 10.0.3.100/24"),
        TypeAfter { wait_for: GUEST_PROMPT, text: "ping -c 3 10.0.3.1\n" },
        TypeAfter { wait_for: GUEST_PROMPT, text: "wget -q -O - http://10.0.3.1/status.txt\n" },
        TypeAfter { wait_for: GUEST_PROMPT, text: "wget -q -O - http://10.0.3.1/ | grep -c '<td>running</td>'\n" },
        TypeAfter { wait_for: GUEST_PROMPT, text: "\x1d" },
        Type("ping 10.0.3.100 2\n"),
        Type("net\n"),
        Type("vm stop linux\n"),
        // Attached again, the console says when the guest has stopped.
        Type("vm console linux\n"),
        Type("net\n"),
    ];
    Case {
        name: "net-guest",
        args: &["--timeout", GUEST_TIMEOUT],
        typing: Typing::Script(STEPS),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "keel-guest: eth0 10.0.3.100/24",
                "ping -c 3 10.0.3.1",
                "3 packets transmitted, 3 packets received, 0% packet loss",
                "wget -q -O - http://10.0.3.1/status.txt",
                "INTERFACE",
                "vm-linux      02:4b:",
                "10.0.3.100        02:4b:",
                "grep -c",
                "1",
                "[detached from linux]",
                "keel> ping 10.0.3.100 2",
                "64 bytes from 10.0.3.100: seq=1 time=",
                "keel> net",
                "vm-linux      02:4b:",
                "LEASE",
                "10.0.3.100        02:4b:",
                "[linux stopped: stopped]",
                "keel> net",
                "PORT ",
                "br0 ",
            ]),
            // Its port went with it.
            Expect::Count { line: "no forwards (net forward add WANPORT GUESTIP:PORT makes one)", times: 3 },
            Expect::NoLine("PANIC"),
        ],
    }
}

/// Two ports of 127.0.0.1 free now (the OS picks them; QEMU binds them a moment later).
pub fn free_ports() -> Result<[u16; 2], String> {
    let bind = || TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"));
    let (first, second) = (bind()?, bind()?);
    let port = |listener: &TcpListener| listener.local_addr().map(|a| a.port()).map_err(|e| format!("no free port: {e}"));
    Ok([port(&first)?, port(&second)?])
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn wan_case([port, _]: [u16; 2]) -> Case {
    let args: &'static [&'static str] =
        Box::leak(vec!["--http-port", leak(port.to_string()), "--append", "keel.log=info"].into_boxed_slice());
    const STEPS: &[Step] = &[
        // DHCP from QEMU's user network takes a moment after boot; meanwhile the machine
        // fetches /, /status.txt and /nope, waits out the head timeout and is refused a
        // POST. (Searched from the start of the console: they may come in any order with
        // the shell's prompt.)
        WaitFor("net: wan is 10.0.2.15/24"),
        WaitFor("http: 200 Get /status.txt"),
        WaitFor("http: 405 refused"),
        // The shell's prompt is out already (the log lines came after it): type at once.
        Pause(Duration::from_millis(200)),
        TypeNow("net\n"),
        Type("ping 10.0.2.2 3\n"),
        Type("ping 10.0.3.1 1\n"),
        Type("ping 10.1.2.3 1\n"),
    ];
    Case {
        name: "net-wan",
        args,
        typing: Typing::Script(STEPS),
        expect: &[
            Expect::Exit(0),
            Expect::LineStartingWith { prefix: "wan        52:54:00:12:34:56  10.0.2.15/24     10.0.2.2     dhcp", contains: "" },
            Expect::LineStartingWith { prefix: "br0        ", contains: "10.0.3.1/24" },
            Expect::Sequence(&[
                "keel> ping 10.0.2.2 3",
                "PING 10.0.2.2: 56 data bytes",
                "64 bytes from 10.0.2.2: seq=0 time=",
                "64 bytes from 10.0.2.2: seq=2 time=",
                "3 packets transmitted, 3 received, 0% packet loss",
                "round-trip min/avg/max = ",
            ]),
            Expect::Sequence(&["keel> ping 10.0.3.1 1", "64 bytes from 10.0.3.1: seq=0", "1 received"]),
            Expect::Sequence(&["keel> ping 10.1.2.3 1", "no reply from 10.1.2.3: seq=0", "0 received, 100% packet loss"]),
            Expect::Line("http: 200 Get /"),
            Expect::NoLine("PANIC"),
        ],
    }
}

/// Two guests on the switch: `linux` serves a page with busybox httpd, `b` (created with
/// `--net`) pings it, fetches the page and sends 64 KiB to Keel's discard service, and a
/// forward of Keel's wan port 8081 makes it
/// reachable from the machine (`--forward PORT:8081`).
fn guests_case([_, forwarded]: [u16; 2]) -> Case {
    let args: &'static [&'static str] = Box::leak(
        vec!["--timeout", GUEST_TIMEOUT, "--forward", leak(format!("{forwarded}:8081")), "--append", "keel.log=info"]
            .into_boxed_slice(),
    );
    const STEPS: &[Step] = &[
        Type("vm create b --net --mem 192M\n"),
        Type("vm start linux\n"),
        Type("vm console linux\n"),
        WaitFor("keel-guest: eth0 10.0.3.100/24"),
        TypeAfter {
            wait_for: GUEST_PROMPT,
            text: "mkdir -p /www && echo hello-from-linux > /www/index.html && httpd -p 80 -h /www && echo httpd-up\n",
        },
        TypeAfter { wait_for: "httpd-up", text: "\x1d" },
        Type("net forward add 8081 10.0.3.100:80\n"),
        // The machine reaches linux's page through the forward (it retries meanwhile).
        WaitFor("forward 8081: connection to 10.0.3.100:80"),
        Pause(Duration::from_millis(500)),
        TypeNow("vm start b\n"),
        Type("vm console b\n"),
        WaitFor("keel-guest: eth0 10.0.3.101/24"),
        TypeAfter { wait_for: GUEST_PROMPT, text: "ping -c 2 10.0.3.100\n" },
        TypeAfter { wait_for: GUEST_PROMPT, text: "wget -q -O - http://10.0.3.100/\n" },
        // Keel's discard service counts what it is sent (the receiving end of bench net).
        TypeAfter { wait_for: GUEST_PROMPT, text: "dd if=/dev/zero bs=1k count=64 2>/dev/null | nc 10.0.3.1 9\n" },
        TypeAfter { wait_for: GUEST_PROMPT, text: "\x1d" },
        Type("net forward list\n"),
        Type("net\n"),
        Type("vm kill b\n"),
        Type("vm kill linux\n"),
        Type("net forward del 8081\n"),
    ];
    Case {
        name: "net-guests-forward",
        args,
        typing: Typing::Script(STEPS),
        expect: &[
            Expect::Exit(0),
            Expect::Sequence(&[
                "keel-guest: eth0 10.0.3.100/24",
                "httpd-up",
                "keel> net forward add 8081 10.0.3.100:80",
                "net: wan port 8081 -> 10.0.3.100:80",
                "forward 8081: connection to 10.0.3.100:80",
                "keel> vm console b",
                "keel-guest: eth0 10.0.3.101/24",
                "2 packets transmitted, 2 packets received, 0% packet loss",
                "wget -q -O - http://10.0.3.100/",
                "hello-from-linux",
                "8081      10.0.3.100:80               0      1",
                "vm-linux      02:4b:",
                "vm-b          02:4b:",
                "net: wan port 8081 no longer forwarded",
            ]),
            Expect::Line("discard: 65536 bytes in "),
            Expect::NoLine("PANIC"),
        ],
    }
}

/// Fetches the guest's page through the run command's forward and Keel's.
fn fetch_from_guest([_, forwarded]: [u16; 2]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(200);
    loop {
        match exchange(forwarded, b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n") {
            Ok(reply) if reply.contains("hello-from-linux") => {
                if !reply.starts_with("HTTP/1.") {
                    return Err(format!("not an HTTP reply: {reply:?}"));
                }
                return Ok(());
            }
            Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(500)),
            Ok(reply) => return Err(format!("the guest's page never came; last answer: {reply:?}")),
            Err(error) => return Err(format!("the guest's page never came: {error}")),
        }
    }
}

/// One HTTP exchange with `127.0.0.1:port`: sends `request`, reads until the server closes.
pub(super) fn exchange(port: u16, request: &[u8]) -> Result<String, String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    stream.write_all(request).map_err(|e| format!("send: {e}"))?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map_err(|e| format!("receive: {e}"))?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Fetches the status page as a browser would, once Keel's wan is up (QEMU accepts on the
/// port at once and closes the connection while Keel has no address yet).
fn fetch_status(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    // The page can come before init has defined the VMs or DHCP has given wan its address:
    // ask again until it shows them all.
    let needles = ["Content-Type: text/html", "<h1>Keel</h1>", "<td>wan</td>", "<td>10.0.2.15/24</td>", "<td>linux</td>"];
    loop {
        match exchange(port, b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: keel-systest\r\n\r\n") {
            Ok(page) if page.starts_with("HTTP/1.1 200 OK") && needles.iter().all(|needle| page.contains(needle)) => break,
            Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(300)),
            Ok(page) => return Err(format!("the status page never showed all of {needles:?}; last answer: {page}")),
            Err(error) => return Err(format!("the status page never came: {error}")),
        }
    }
    let text = exchange(port, b"GET /status.txt HTTP/1.0\r\n\r\n")?;
    if !text.starts_with("HTTP/1.1 200 OK") || !text.contains("INTERFACE") || !text.contains("br0") {
        return Err(format!("/status.txt: {text:?}"));
    }
    let missing = exchange(port, b"GET /nope HTTP/1.1\r\n\r\n")?;
    if !missing.starts_with("HTTP/1.1 404") {
        return Err(format!("/nope: {missing:?}"));
    }
    // A client that sends nothing is cut off after the head timeout (5 s), not kept.
    let started = Instant::now();
    let silent = exchange(port, b"")?;
    let waited = started.elapsed();
    if !silent.is_empty() || !(Duration::from_secs(3)..Duration::from_secs(9)).contains(&waited) {
        return Err(format!("a silent client got {silent:?} after {waited:?} (want nothing after about 5 s)"));
    }
    let post = exchange(port, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")?;
    if !post.starts_with("HTTP/1.1 405") {
        return Err(format!("POST: {post:?}"));
    }
    Ok(())
}
