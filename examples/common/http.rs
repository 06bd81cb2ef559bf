//! Just enough HTTP/1.1 for the example clients (RFC 9110, RFC 9112): parse
//! an `http://` URL, write a request, read a response head, and read the
//! body framed by `Content-Length`, chunked transfer coding (trailers are
//! read and dropped) or the end of the connection.
//!
//! Errors are one-line strings a user can act on; the programs print them.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};

/// Longest response head line accepted (status line, header, chunk size).
const MAX_LINE: usize = 16 * 1024;
/// Most header fields accepted in one head (or trailer section).
const MAX_FIELDS: usize = 256;

/// An `http://` URL, split into what a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/` (the request target).
    pub target: String,
}

impl Url {
    /// Parses `http://host[:port][/path][?query]`; a fragment is dropped.
    pub fn parse(s: &str) -> Result<Url, String> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("https://") {
            return Err(format!("{s}: https is not supported; use http://"));
        }
        let Some(rest) = lower.strip_prefix("http://").map(|_| &s[7..]) else {
            return Err(format!(
                "{s}: not an http:// URL; write it as http://HOST[:PORT]/PATH"
            ));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return Err(format!(
                "{s}: user names and passwords in URLs are not supported"
            ));
        }
        if authority.starts_with('[') {
            return Err(format!(
                "{s}: IPv6 addresses are not supported (ringtcp speaks IPv4 only)"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| format!("{s}: '{p}' is not a port number (1 to 65535)"))?;
                (h, port)
            }
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!(
                "{s}: the URL has no host; write it as http://HOST[:PORT]/PATH"
            ));
        }
        if target
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!(
                "{s}: the path contains spaces or control characters; percent-encode them"
            ));
        }
        Ok(Url {
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// The `Host` header value: the port only when it is not 80.
    pub fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The first IPv4 address of the host, through the system resolver.
    pub fn resolve(&self) -> Result<SocketAddrV4, String> {
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?;
        let mut v6 = false;
        for a in addrs {
            match a {
                SocketAddr::V4(v4) => return Ok(v4),
                SocketAddr::V6(_) => v6 = true,
            }
        }
        Err(if v6 {
            format!(
                "{} has only IPv6 addresses; ringtcp speaks IPv4 only",
                self.host
            )
        } else {
            format!("cannot resolve {}: no addresses", self.host)
        })
    }

    /// The name to save the body under: the last path segment, or
    /// `index.html` when there is none (or it would name a directory).
    pub fn file_name(&self) -> String {
        let path = self.target.split('?').next().unwrap_or("");
        let last = path.rsplit('/').next().unwrap_or("");
        if last.is_empty() || last == "." || last == ".." {
            "index.html".to_owned()
        } else {
            last.to_owned()
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.target)
    }
}

/// Writes a request with no body: `Host`, `User-Agent`, `Connection:
/// close` and the `extra` fields.
pub fn write_request(
    w: &mut impl Write,
    method: &str,
    url: &Url,
    extra: &[(&str, String)],
) -> io::Result<()> {
    let mut req = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ringtcp-examples/{}\r\nAccept: */*\r\nConnection: close\r\n",
        url.target,
        url.host_header(),
        env!("CARGO_PKG_VERSION"),
    );
    for (name, value) in extra {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    w.write_all(req.as_bytes())?;
    w.flush()
}

/// A response's status line and header fields.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    pub fields: Vec<(String, String)>,
}

impl Head {
    /// The first field called `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `404 Not Found`.
    pub fn status_text(&self) -> String {
        if self.reason.is_empty() {
            self.status.to_string()
        } else {
            format!("{} {}", self.status, self.reason)
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `Content-Length`, when present and valid.
    pub fn content_length(&self) -> Result<Option<u64>, String> {
        let mut found: Option<u64> = None;
        for (n, v) in &self.fields {
            if !n.eq_ignore_ascii_case("content-length") {
                continue;
            }
            // A list of identical values is allowed (RFC 9110 8.6).
            for part in v.split(',') {
                let len = part
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("the server sent a bad Content-Length: {v}"))?;
                if found.is_some_and(|f| f != len) {
                    return Err("the server sent conflicting Content-Length fields".into());
                }
                found = Some(len);
            }
        }
        Ok(found)
    }

    /// Whether chunked is the final transfer coding.
    pub fn is_chunked(&self) -> bool {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .flat_map(|(_, v)| v.split(','))
            .next_back()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
    }

    /// `Content-Range: bytes FIRST-LAST/TOTAL` as (first, last, total);
    /// `bytes */TOTAL` (with a 416) as (0, 0, total) with `None` range.
    pub fn content_range(&self) -> Option<ContentRange> {
        let v = self.field("content-range")?.trim();
        let rest = v.strip_prefix("bytes")?.trim_start();
        let (range, total) = rest.split_once('/')?;
        let total = if total.trim() == "*" {
            None
        } else {
            Some(total.trim().parse().ok()?)
        };
        let range = if range.trim() == "*" {
            None
        } else {
            let (a, b) = range.trim().split_once('-')?;
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            if b < a {
                return None;
            }
            Some((a, b))
        };
        Some(ContentRange { range, total })
    }
}

/// A parsed `Content-Range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First and last byte (inclusive); `None` for `*`.
    pub range: Option<(u64, u64)>,
    /// The whole representation's length; `None` for `*`.
    pub total: Option<u64>,
}

fn read_line(r: &mut impl BufRead, what: &str) -> Result<String, String> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading the {what}: {e}"))?;
    if n == 0 {
        return Err(format!(
            "the server closed the connection before the {what}"
        ));
    }
    if line.len() > MAX_LINE {
        return Err(format!(
            "the server sent a {what} longer than {MAX_LINE} bytes"
        ));
    }
    if line.last() != Some(&b'\n') {
        return Err(format!(
            "the server closed the connection in the middle of the {what}"
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| format!("the server sent a {what} that is not text"))
}

/// Reads header fields up to the empty line.
fn read_fields(r: &mut impl BufRead, what: &str) -> Result<Vec<(String, String)>, String> {
    let mut fields: Vec<(String, String)> = Vec::new();
    loop {
        let line = read_line(r, what)?;
        if line.is_empty() {
            return Ok(fields);
        }
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding (RFC 9112 5.2): append to the last field.
            match fields.last_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(line.trim());
                    continue;
                }
                None => return Err(format!("the server sent a malformed {what}: {line}")),
            }
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("the server sent a malformed {what} line: {line}"));
        };
        if fields.len() >= MAX_FIELDS {
            return Err(format!(
                "the server sent more than {MAX_FIELDS} fields in the {what}"
            ));
        }
        fields.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

/// Reads a response head, skipping interim (1xx) responses.
pub fn read_head(r: &mut impl BufRead) -> Result<Head, String> {
    loop {
        let line = read_line(r, "status line")?;
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(format!("the server did not answer with HTTP/1.x: {line}"));
        }
        let status = parts
            .next()
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| format!("the server sent a malformed status line: {line}"))?;
        let reason = parts.next().unwrap_or("").trim().to_owned();
        let fields = read_fields(r, "response header")?;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        return Ok(Head {
            status,
            reason,
            fields,
        });
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    Close,
}

impl Framing {
    /// The framing of the body that follows `head`, for a request made
    /// with `method` (RFC 9112 6.3).
    pub fn of(head: &Head, method: &str) -> Result<Framing, String> {
        if method == "HEAD" || head.status == 204 || head.status == 304 {
            return Ok(Framing::Empty);
        }
        if head.field("transfer-encoding").is_some() {
            return Ok(if head.is_chunked() {
                Framing::Chunked
            } else {
                Framing::Close
            });
        }
        Ok(match head.content_length()? {
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        })
    }
}

enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Bytes left in the current chunk.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    Done,
}

/// The body of a response as a reader; ends where the framing says, and
/// fails (`UnexpectedEof`) if the connection closes before that.
pub struct Body<R> {
    inner: R,
    framing: Framing,
    /// Bytes left of a `Length` body.
    left: u64,
    chunk: ChunkState,
}

impl<R: BufRead> Body<R> {
    pub fn new(inner: R, framing: Framing) -> Body<R> {
        let left = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        Body {
            inner,
            framing,
            left,
            chunk: ChunkState::Size,
        }
    }

    /// Copies the whole body into `out`, calling `progress` with each
    /// piece's length. Returns the byte count.
    pub fn copy_to(
        &mut self,
        out: &mut impl Write,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, BodyError> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match self.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BodyError::Read(self.describe(e, total))),
            };
            out.write_all(&buf[..n]).map_err(BodyError::Write)?;
            total += n as u64;
            progress(n as u64);
        }
    }

    fn describe(&self, e: io::Error, got: u64) -> String {
        match (e.kind(), self.framing) {
            (io::ErrorKind::UnexpectedEof, Framing::Length(n)) => {
                format!("the server closed the connection after {got} of {n} bytes")
            }
            (io::ErrorKind::UnexpectedEof, _) => {
                format!(
                    "the server closed the connection in the middle of a chunk (after {got} bytes)"
                )
            }
            (io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut, _) => {
                format!("the server sent nothing for too long (after {got} bytes)")
            }
            _ => format!("reading the body (after {got} bytes): {e}"),
        }
    }

    fn read_chunked(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        loop {
            match self.chunk {
                ChunkState::Done => return Ok(0),
                ChunkState::Size => {
                    let line = read_line(&mut self.inner, "chunk size").map_err(|m| {
                        if m.contains("closed") {
                            io::Error::new(io::ErrorKind::UnexpectedEof, m)
                        } else {
                            bad(m)
                        }
                    })?;
                    let hex = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(hex, 16)
                        .map_err(|_| bad(format!("the server sent a bad chunk size: {line}")))?;
                    if size == 0 {
                        // Trailer fields, then the end.
                        read_fields(&mut self.inner, "trailer").map_err(bad)?;
                        self.chunk = ChunkState::Done;
                        return Ok(0);
                    }
                    self.chunk = ChunkState::Data(size);
                }
                ChunkState::Data(left) => {
                    let want = (buf.len() as u64).min(left) as usize;
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    self.chunk = if left == n as u64 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - n as u64)
                    };
                    return Ok(n);
                }
                ChunkState::DataEnd => {
                    let line = read_line(&mut self.inner, "chunk end").map_err(bad)?;
                    if !line.is_empty() {
                        return Err(bad(
                            "the server sent more chunk data than the chunk size said".into(),
                        ));
                    }
                    self.chunk = ChunkState::Size;
                }
            }
        }
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.framing {
            Framing::Empty => Ok(0),
            Framing::Close => self.inner.read(buf),
            Framing::Length(_) => {
                if self.left == 0 || buf.is_empty() {
                    return Ok(0);
                }
                let want = (buf.len() as u64).min(self.left) as usize;
                let n = self.inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.left -= n as u64;
                Ok(n)
            }
            Framing::Chunked => self.read_chunked(buf),
        }
    }
}

/// Why copying a body stopped.
#[derive(Debug)]
pub enum BodyError {
    /// The connection or the framing failed (a one-line message).
    Read(String),
    /// The destination refused the bytes.
    Write(io::Error),
}
