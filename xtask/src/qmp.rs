//! A minimal QMP client: enough to press the virt board's power button (`system_powerdown`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// One line QEMU sends on a QMP connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Greeting,
    Return,
    Error(String),
    Event,
    Other,
}

/// Classifies a QMP line by its top-level key. QEMU writes one JSON object per line with the
/// key of interest first (`{"QMP": ...}`, `{"return": ...}`, `{"error": ...}`); events carry
/// `"event"` next to their timestamp.
pub fn classify(line: &str) -> Message {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.starts_with("{\"QMP\":") {
        Message::Greeting
    } else if compact.starts_with("{\"return\":") {
        Message::Return
    } else if compact.starts_with("{\"error\":") {
        Message::Error(line.trim().to_string())
    } else if compact.contains("\"event\":") {
        Message::Event
    } else {
        Message::Other
    }
}

/// Connects to QEMU's QMP socket (retrying while QEMU sets it up), negotiates capabilities
/// and sends `system_powerdown`.
pub fn system_powerdown(socket: &Path, connect_for: Duration) -> Result<(), String> {
    let deadline = Instant::now() + connect_for;
    let stream = loop {
        match UnixStream::connect(socket) {
            Ok(stream) => break stream,
            Err(error) if Instant::now() >= deadline => {
                return Err(format!("cannot connect to QMP at {}: {error}", socket.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let io_error = |e: std::io::Error| format!("QMP: {e}");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(io_error)?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(io_error)?;
    let mut writer = stream.try_clone().map_err(io_error)?;
    let mut reader = BufReader::new(stream);
    let mut next = |want_greeting: bool| -> Result<(), String> {
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(io_error)? == 0 {
                return Err("QMP: QEMU closed the connection".into());
            }
            match classify(&line) {
                Message::Greeting if want_greeting => return Ok(()),
                Message::Return if !want_greeting => return Ok(()),
                Message::Error(error) => return Err(format!("QMP: {error}")),
                _ => continue,
            }
        }
    };
    next(true)?;
    writer
        .write_all(b"{\"execute\":\"qmp_capabilities\"}\n")
        .map_err(io_error)?;
    next(false)?;
    writer
        .write_all(b"{\"execute\":\"system_powerdown\"}\n")
        .map_err(io_error)?;
    next(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn classifies_qmp_lines() {
        assert_eq!(
            classify(r#"{"QMP": {"version": {"qemu": {"micro": 0}}, "capabilities": ["oob"]}}"#),
            Message::Greeting
        );
        assert_eq!(classify("{\"return\": {}}\r\n"), Message::Return);
        assert_eq!(
            classify(r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "POWERDOWN"}"#),
            Message::Event
        );
        assert!(matches!(
            classify(r#"{"error": {"class": "CommandNotFound", "desc": "x"}}"#),
            Message::Error(_)
        ));
        assert_eq!(classify("garbage"), Message::Other);
    }

    #[test]
    fn talks_to_a_fake_qemu() {
        let dir = std::env::temp_dir().join(format!("xtask-qmp-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("qmp.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writer
                .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n")
                .unwrap();
            let mut commands = Vec::new();
            for _ in 0..2 {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                commands.push(line.trim().to_string());
                if commands.len() == 2 {
                    writer
                        .write_all(b"{\"timestamp\": {}, \"event\": \"POWERDOWN\"}\r\n")
                        .unwrap();
                }
                writer.write_all(b"{\"return\": {}}\r\n").unwrap();
            }
            commands
        });
        system_powerdown(&socket, Duration::from_secs(5)).unwrap();
        let commands = server.join().unwrap();
        assert_eq!(
            commands,
            vec![r#"{"execute":"qmp_capabilities"}"#, r#"{"execute":"system_powerdown"}"#]
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(system_powerdown(&socket, Duration::from_millis(100)).is_err());
    }
}
