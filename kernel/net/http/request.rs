//! HTTP/1.x request heads, parsed with hard limits: what the status server accepts.

use alloc::string::String;

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 4096;
/// Most header lines.
pub const MAX_HEADERS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path without the query string.
    pub path: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed (the head has not ended).
    Incomplete,
    Done(Request),
    /// Refused with this status code (400, 405, 414, 431, 505).
    Refused(u16),
}

/// Parses the request head in `bytes` (what arrived so far).
pub fn parse(bytes: &[u8]) -> Parsed {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let Some(end) = end else {
        return if bytes.len() >= MAX_HEAD { Parsed::Refused(431) } else { Parsed::Incomplete };
    };
    if end + 4 > MAX_HEAD {
        return Parsed::Refused(431);
    }
    let Ok(head) = core::str::from_utf8(&bytes[..end]) else { return Parsed::Refused(400) };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    if lines.clone().count() > MAX_HEADERS {
        return Parsed::Refused(431);
    }
    if lines.any(|line| !line.contains(':') || line.starts_with([' ', '\t'])) {
        return Parsed::Refused(400);
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Refused(400);
    };
    if !version.starts_with("HTTP/") {
        return Parsed::Refused(400);
    }
    if version != "HTTP/1.0" && version != "HTTP/1.1" {
        return Parsed::Refused(505);
    }
    if !target.starts_with('/') {
        return Parsed::Refused(400);
    }
    if target.len() > 1024 {
        return Parsed::Refused(414);
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => return Parsed::Refused(405),
        _ => return Parsed::Refused(400),
    };
    let path = target.split(['?', '#']).next().unwrap_or("/");
    Parsed::Done(Request { method, path: String::from(path) })
}

/// The reason phrase of the codes the server sends.
pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A whole response; the connection closes after it.
pub fn response(code: u16, content_type: &str, body: &[u8], head_only: bool) -> alloc::vec::Vec<u8> {
    let mut out = alloc::format!(
        "HTTP/1.1 {code} {}\r\nServer: keel\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        reason(code),
        body.len()
    )
    .into_bytes();
    if code == 405 {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(path: &str, method: Method) -> Parsed {
        Parsed::Done(Request { method, path: path.into() })
    }

    #[test]
    fn requests() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), done("/", Method::Get));
        assert_eq!(parse(b"HEAD /status.txt?x=1 HTTP/1.0\r\n\r\n"), done("/status.txt", Method::Head));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\nbody"), done("/", Method::Get));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Incomplete);
        assert_eq!(parse(b""), Parsed::Incomplete);
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(b"POST / HTTP/1.1\r\n\r\n"), Parsed::Refused(405));
        assert_eq!(parse(b"get / HTTP/1.1\r\n\r\n"), Parsed::Refused(400));
        assert_eq!(parse(b"GET / HTTP/2.0\r\n\r\n"), Parsed::Refused(505));
        assert_eq!(parse(b"GET / FTP/1.0\r\n\r\n"), Parsed::Refused(400));
        assert_eq!(parse(b"GET x HTTP/1.1\r\n\r\n"), Parsed::Refused(400));
        assert_eq!(parse(b"GET  / HTTP/1.1\r\n\r\n"), Parsed::Refused(400));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), Parsed::Refused(400));
        assert_eq!(parse(b"GET /\xff HTTP/1.1\r\n\r\n"), Parsed::Refused(400));
        let long = alloc::format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(2000));
        assert_eq!(parse(long.as_bytes()), Parsed::Refused(414));
        let many = alloc::format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(parse(many.as_bytes()), Parsed::Refused(431));
        assert_eq!(parse(&[b'a'; MAX_HEAD]), Parsed::Refused(431), "a head that never ends");
        let big = alloc::format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "y".repeat(MAX_HEAD));
        assert_eq!(parse(big.as_bytes()), Parsed::Refused(431));
    }

    #[test]
    fn responses() {
        let r = response(200, "text/plain", b"hi", false);
        let text = core::str::from_utf8(&r).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.ends_with("\r\n\r\nhi"));
        let head = response(200, "text/plain", b"hi", true);
        assert!(head.ends_with(b"\r\n\r\n"));
        assert!(core::str::from_utf8(&response(405, "text/plain", b"", false)).unwrap().contains("Allow: GET, HEAD"));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x9e37_79b9u32;
        for len in 0..2000 {
            let mut bytes = alloc::vec![0u8; len % 300];
            for b in bytes.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *b = b"GET /HTP1.\r\n: "[seed as usize % 14];
            }
            let _ = parse(&bytes);
        }
    }
}
