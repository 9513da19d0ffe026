//! A small HTTP/1.1 server (one thread per connection, `Connection: close`),
//! WebSocket upgrades (RFC 6455) and an HTTP client. Every response carries
//! `X-Standin: <role>` and `X-Standin-Path: <request target>`, so a test
//! through the proxy can tell which stand-in answered and what path it saw.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::{base64, json_str, sha1};

/// Requests served since start (for the heartbeat line).
pub static REQUESTS: AtomicU64 = AtomicU64::new(0);

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as received: path and query.
    pub target: String,
    /// The path without the query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn wants_websocket(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    }
}

/// Answers one WebSocket text message (None: no answer).
pub type TextHandler = Box<dyn Fn(&str) -> Option<String> + Send>;

/// A WebSocket session after a 101: greeting frames, then `on_text` answers
/// each text message (None: no answer).
pub struct WsSession {
    pub greeting: Vec<String>,
    pub on_text: TextHandler,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub ws: Option<WsSession>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            ws: None,
        }
    }

    pub fn json(status: u16, body: String) -> Response {
        Response::new(status, "application/json", body)
    }

    pub fn text(status: u16, body: &str) -> Response {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            body.as_bytes().to_vec(),
        )
    }

    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            ws: None,
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }

    /// Accepts a WebSocket upgrade, or answers 400 when the handshake is
    /// not a valid RFC 6455 one.
    pub fn websocket(req: &Request, session: WsSession) -> Response {
        let key = req.header("sec-websocket-key").unwrap_or("");
        let version_ok = req.header("sec-websocket-version") == Some("13");
        let conn_ok = req.header("connection").is_some_and(|c| {
            c.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
        let key_ok = crate::util::base64_decode(key.trim()).is_some_and(|k| k.len() == 16);
        if req.method != "GET" || !version_ok || !conn_ok || !key_ok {
            return Response::json(
                400,
                format!(
                    "{{\"type\":\"InvalidHandshake\",\"error\":{}}}",
                    json_str("expected a WebSocket upgrade (GET, Connection: Upgrade, Sec-WebSocket-Version: 13, a 16-byte Sec-WebSocket-Key)")
                ),
            );
        }
        let accept = base64(&sha1(
            format!("{}258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key.trim()).as_bytes(),
        ));
        Response {
            status: 101,
            headers: vec![
                ("Upgrade".into(), "websocket".into()),
                ("Connection".into(), "Upgrade".into()),
                ("Sec-WebSocket-Accept".into(), accept),
            ],
            body: Vec::new(),
            ws: Some(session),
        }
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        426 => "Upgrade Required",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Binds `0.0.0.0:port` (or the given address) and serves on a background
/// thread. Exits the process when the port cannot be bound, like a real
/// server.
pub fn spawn_server(bind: IpAddr, port: u16, handler: Handler) {
    // `STANDIN_NEVER_LISTEN=1`: the test kit's release whose service stays
    // up but never serves (stuck in its start-up): the process lives on,
    // its health check never passes.
    if std::env::var("STANDIN_NEVER_LISTEN").is_ok_and(|v| v == "1") {
        crate::info!("not listening on {bind}:{port} (STANDIN_NEVER_LISTEN)");
        return;
    }
    // `STANDIN_LISTEN_DELAY_MS=N`: a service slow to start (Stoat's api
    // connects to its database and runs its migrations first): its port
    // opens N ms after the process started.
    if let Some(ms) = std::env::var("STANDIN_LISTEN_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        crate::info!("listening on {bind}:{port} in {ms} ms (STANDIN_LISTEN_DELAY_MS)");
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            listen(bind, port, handler);
        });
        return;
    }
    listen(bind, port, handler);
}

fn listen(bind: IpAddr, port: u16, handler: Handler) {
    let listener = match TcpListener::bind(SocketAddr::new(bind, port)) {
        Ok(l) => l,
        Err(e) => crate::log::fatal(&format!("cannot listen on {bind}:{port}: {e}")),
    };
    crate::info!("listening on http://{bind}:{port}");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            let handler = handler.clone();
            std::thread::spawn(move || {
                let _ = serve_conn(stream, handler);
            });
        }
    });
}

fn read_request(stream: &TcpStream) -> io::Result<Option<Request>> {
    let peer = stream.peer_addr()?;
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader.by_ref().take(8192).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if line == b"\r\n" || line == b"\n" {
            if head.is_empty() {
                continue;
            }
            break;
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk"))?;
            if size == 0 {
                // Trailers until the empty line.
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l)? == 0 || l.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
        }
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if len > MAX_BODY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
        }
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    let path = target.split('?').next().unwrap_or("/").to_string();
    Ok(Some(Request {
        method,
        target,
        path,
        headers,
        body,
        peer,
    }))
}

fn serve_conn(mut stream: TcpStream, handler: Handler) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let Some(req) = read_request(&stream)? else {
        return Ok(());
    };
    let started = Instant::now();
    REQUESTS.fetch_add(1, Ordering::Relaxed);
    let role = crate::log::role();
    let mut resp = handler(&req);
    let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("X-Standin: {role}\r\n"));
    out.push_str(&format!("X-Standin-Path: {}\r\n", req.target));
    out.push_str("Server: burrow-standin\r\n");
    if resp.status != 101 {
        out.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n",
            resp.body.len()
        ));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())?;
    if req.method != "HEAD" {
        stream.write_all(&resp.body)?;
    }
    stream.flush()?;
    let ua = req.header("user-agent").unwrap_or("-");
    crate::info!(
        "{} {} -> {} ({} bytes, {} ms) from {} ua={:?}",
        req.method,
        req.target,
        resp.status,
        resp.body.len(),
        started.elapsed().as_millis(),
        req.peer.ip(),
        ua
    );
    if let Some(session) = resp.ws.take() {
        stream.set_read_timeout(None)?;
        crate::info!(
            "websocket session opened on {} from {}",
            req.target,
            req.peer.ip()
        );
        let result = ws_session(&mut stream, session);
        crate::info!(
            "websocket session on {} closed ({})",
            req.target,
            match result {
                Ok(()) => "normally".to_string(),
                Err(e) => e.to_string(),
            }
        );
    }
    Ok(())
}

/// Writes one unmasked server frame.
pub fn ws_write(
    stream: &mut impl Write,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> io::Result<()> {
    let mut frame = vec![0x80 | opcode];
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        frame.push(mbit | len as u8);
    } else if len <= 0xffff {
        frame.push(mbit | 126);
        frame.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        frame.push(mbit | 127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(m) => {
            frame.extend_from_slice(&m);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    stream.write_all(&frame)?;
    stream.flush()
}

/// Reads one frame: (fin, opcode, payload), unmasking client frames.
pub fn ws_read(stream: &mut impl Read) -> io::Result<(bool, u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    stream.read_exact(&mut h)?;
    let fin = h[0] & 0x80 != 0;
    let opcode = h[0] & 0x0f;
    let masked = h[1] & 0x80 != 0;
    let mut len = u64::from(h[1] & 0x7f);
    if len == 126 {
        let mut b = [0u8; 2];
        stream.read_exact(&mut b)?;
        len = u64::from(u16::from_be_bytes(b));
    } else if len == 127 {
        let mut b = [0u8; 8];
        stream.read_exact(&mut b)?;
        len = u64::from_be_bytes(b);
    }
    if len > MAX_BODY as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut mask = [0u8; 4];
    if masked {
        stream.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload)?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((fin, opcode, payload))
}

fn ws_session(stream: &mut TcpStream, session: WsSession) -> io::Result<()> {
    for text in &session.greeting {
        ws_write(stream, 0x1, text.as_bytes(), None)?;
    }
    let mut message = Vec::new();
    loop {
        let (fin, opcode, payload) = ws_read(stream)?;
        match opcode {
            0x0..=0x2 => {
                message.extend_from_slice(&payload);
                if !fin {
                    continue;
                }
                let text = String::from_utf8_lossy(&message).into_owned();
                message.clear();
                crate::info!("websocket message: {}", truncate(&text, 200));
                if let Some(reply) = (session.on_text)(&text) {
                    ws_write(stream, 0x1, reply.as_bytes(), None)?;
                }
            }
            0x8 => {
                let code = payload.get(..2).map(|c| c.to_vec()).unwrap_or_default();
                let _ = ws_write(stream, 0x8, &code, None);
                return Ok(());
            }
            0x9 => ws_write(stream, 0xA, &payload, None)?,
            0xA => {}
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown opcode {other}"),
                ))
            }
        }
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

/// A response received by [`request`].
#[derive(Debug)]
#[allow(dead_code)]
pub struct ClientResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[allow(dead_code)]
impl ClientResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A plain-HTTP request (`http://host[:port]/path`), `Connection: close`.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<ClientResponse, String> {
    let u = crate::util::Url::parse(url)?;
    if u.scheme != "http" {
        return Err(format!("`{url}`: only http:// is supported"));
    }
    let port = u.port_or(80);
    let mut stream = crate::net::connect(&u.host, port, timeout).map_err(|e| e.to_string())?;
    let host_header = match u.port {
        Some(p) => format!("{}:{p}", u.host),
        None => u.host.clone(),
    };
    let mut out = format!(
        "{method} {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: burrow-standin/{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        u.path,
        crate::log::role(),
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    stream
        .write_all(out.as_bytes())
        .and_then(|_| stream.write_all(body))
        .map_err(|e| format!("{url}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("{url}: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{url}: truncated response"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{url}: bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Ok(ClientResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..pos])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim().split(';').next().unwrap_or(""), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = &data[(end + 2).min(data.len())..];
    }
    out
}
