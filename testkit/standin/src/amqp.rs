//! The first steps of AMQP 0-9-1 that every RabbitMQ client takes (Stoat's
//! included): protocol header, Start/Start-Ok with PLAIN credentials,
//! Tune/Tune-Ok, Open on vhost `/`, then Close. Enough to prove against
//! the real server that the rendered user and password work.

use std::io::{Read, Write};

const FRAME_METHOD: u8 = 1;
const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;

/// Why a handshake did not finish.
#[derive(Debug)]
pub enum Refusal {
    /// The connection failed or closed (retry later).
    Io(std::io::Error),
    /// The server closed the connection with a reply code and text
    /// (403 ACCESS_REFUSED for wrong credentials, 530 for a vhost).
    Closed { code: u16, text: String },
    /// Something that is not AMQP 0-9-1 answered.
    Protocol(String),
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        Refusal::Io(e)
    }
}

/// Signs in as `user` and opens vhost `/`; the server's product and
/// version (from Connection.Start) when it lets us in.
pub fn handshake(
    stream: &mut (impl Read + Write),
    user: &str,
    pass: &str,
) -> Result<String, Refusal> {
    stream.write_all(b"AMQP\x00\x00\x09\x01")?;
    let start = expect(stream, (10, 10), "Connection.Start")?;
    let server = server_name(&start);

    let mut args = Vec::new();
    // client-properties: ask for a Connection.Close on a failed sign-in
    // instead of a bare disconnect.
    let mut caps = Vec::new();
    shortstr(&mut caps, "authentication_failure_close");
    caps.extend_from_slice(&[b't', 1]);
    let mut props = Vec::new();
    shortstr(&mut props, "product");
    props.push(b'S');
    longstr(&mut props, b"burrow-testkit standin");
    shortstr(&mut props, "capabilities");
    props.push(b'F');
    longstr(&mut props, &caps);
    longstr(&mut args, &props);
    shortstr(&mut args, "PLAIN");
    longstr(&mut args, format!("\0{user}\0{pass}").as_bytes());
    shortstr(&mut args, "en_US");
    send(stream, 10, 11, &args)?;

    let tune = expect(stream, (10, 30), "Connection.Tune")?;
    let (channel_max, frame_max) = match tune.get(..6) {
        Some(b) => (
            u16::from_be_bytes([b[0], b[1]]),
            u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
        ),
        None => return Err(Refusal::Protocol("a short Connection.Tune".into())),
    };
    let mut ok = Vec::new();
    ok.extend_from_slice(&channel_max.to_be_bytes());
    ok.extend_from_slice(&frame_max.to_be_bytes());
    ok.extend_from_slice(&0u16.to_be_bytes()); // no heartbeats
    send(stream, 10, 31, &ok)?;

    let mut open = Vec::new();
    shortstr(&mut open, "/");
    shortstr(&mut open, "");
    open.push(0);
    send(stream, 10, 40, &open)?;
    expect(stream, (10, 41), "Connection.Open-Ok")?;

    let mut close = Vec::new();
    close.extend_from_slice(&200u16.to_be_bytes());
    shortstr(&mut close, "bye");
    close.extend_from_slice(&[0, 0, 0, 0]);
    send(stream, 10, 50, &close)?;
    // Close-Ok: a courtesy; the check has already passed.
    let _ = read_method(stream);
    Ok(server)
}

fn shortstr(out: &mut Vec<u8>, s: &str) {
    out.push(s.len().min(255) as u8);
    out.extend_from_slice(&s.as_bytes()[..s.len().min(255)]);
}

fn longstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn send(stream: &mut impl Write, class: u16, method: u16, args: &[u8]) -> std::io::Result<()> {
    let mut payload = Vec::with_capacity(4 + args.len());
    payload.extend_from_slice(&class.to_be_bytes());
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(args);
    let mut frame = vec![FRAME_METHOD, 0, 0];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    frame.push(FRAME_END);
    stream.write_all(&frame)
}

/// The next method frame on channel 0 (heartbeats skipped): class, method
/// and arguments.
fn read_method(stream: &mut impl Read) -> Result<(u16, u16, Vec<u8>), Refusal> {
    loop {
        let mut head = [0u8; 7];
        stream.read_exact(&mut head)?;
        if &head[..4] == b"AMQP" {
            return Err(Refusal::Protocol(format!(
                "the server wants protocol {}.{}.{} (AMQP 0-9-1 was offered)",
                head[5],
                head[6],
                {
                    let mut last = [0u8; 1];
                    stream.read_exact(&mut last)?;
                    last[0]
                }
            )));
        }
        let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
        if size > 1 << 20 {
            return Err(Refusal::Protocol(format!("a {size}-byte frame")));
        }
        let mut payload = vec![0u8; size + 1];
        stream.read_exact(&mut payload)?;
        if payload.pop() != Some(FRAME_END) {
            return Err(Refusal::Protocol("a frame without its end marker".into()));
        }
        match head[0] {
            FRAME_HEARTBEAT => continue,
            FRAME_METHOD if payload.len() >= 4 => {
                let class = u16::from_be_bytes([payload[0], payload[1]]);
                let method = u16::from_be_bytes([payload[2], payload[3]]);
                return Ok((class, method, payload.split_off(4)));
            }
            t => {
                return Err(Refusal::Protocol(format!(
                    "an unexpected frame of type {t}"
                )))
            }
        }
    }
}

/// Reads the next method; a Connection.Close becomes `Refusal::Closed`.
fn expect(stream: &mut impl Read, want: (u16, u16), name: &str) -> Result<Vec<u8>, Refusal> {
    let (class, method, args) = read_method(stream)?;
    if (class, method) == want {
        return Ok(args);
    }
    if (class, method) == (10, 50) && args.len() >= 3 {
        let code = u16::from_be_bytes([args[0], args[1]]);
        let len = args[2] as usize;
        let text = args
            .get(3..3 + len)
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .unwrap_or_default();
        return Err(Refusal::Closed { code, text });
    }
    Err(Refusal::Protocol(format!(
        "expected {name}, got method {class}.{method}"
    )))
}

/// `product version` from Connection.Start's server-properties table.
fn server_name(start: &[u8]) -> String {
    let field = |name: &str| -> Option<String> {
        let table_len = u32::from_be_bytes(start.get(2..6)?.try_into().ok()?) as usize;
        let table = start.get(6..6 + table_len)?;
        let mut i = 0;
        while i < table.len() {
            let klen = table[i] as usize;
            let key = table.get(i + 1..i + 1 + klen)?;
            i += 1 + klen;
            let kind = *table.get(i)?;
            i += 1;
            match kind {
                b'S' => {
                    let len = u32::from_be_bytes(table.get(i..i + 4)?.try_into().ok()?) as usize;
                    let value = table.get(i + 4..i + 4 + len)?;
                    if key == name.as_bytes() {
                        return Some(String::from_utf8_lossy(value).into_owned());
                    }
                    i += 4 + len;
                }
                b'F' => {
                    let len = u32::from_be_bytes(table.get(i..i + 4)?.try_into().ok()?) as usize;
                    i += 4 + len;
                }
                b't' | b'b' | b'B' => i += 1,
                b'U' | b'u' | b's' => i += 2,
                b'I' | b'i' | b'f' => i += 4,
                b'L' | b'l' | b'd' | b'T' => i += 8,
                _ => return None,
            }
        }
        None
    };
    match (field("product"), field("version")) {
        (Some(p), Some(v)) => format!("{p} {v}"),
        (Some(p), None) => p,
        _ => "an AMQP 0-9-1 server".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted server: what it sends, and the bytes the client wrote.
    struct Script {
        input: std::io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }
    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn frames(methods: &[(u16, u16, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (c, m, a) in methods {
            send(&mut out, *c, *m, a).unwrap();
        }
        out
    }

    fn start() -> Vec<u8> {
        let mut props = Vec::new();
        shortstr(&mut props, "product");
        props.push(b'S');
        longstr(&mut props, b"RabbitMQ");
        shortstr(&mut props, "version");
        props.push(b'S');
        longstr(&mut props, b"3.10.8");
        let mut args = vec![0, 9];
        longstr(&mut args, &props);
        longstr(&mut args, b"PLAIN AMQPLAIN");
        longstr(&mut args, b"en_US");
        args
    }

    fn tune() -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&2047u16.to_be_bytes());
        t.extend_from_slice(&131072u32.to_be_bytes());
        t.extend_from_slice(&60u16.to_be_bytes());
        t
    }

    #[test]
    fn signs_in_and_opens_the_default_vhost() {
        let mut s = Script {
            input: std::io::Cursor::new(frames(&[
                (10, 10, start()),
                (10, 30, tune()),
                (10, 41, vec![0]),
                (10, 51, vec![]),
            ])),
            output: Vec::new(),
        };
        let server = handshake(&mut s, "stoatchat", "pw").unwrap();
        assert_eq!(server, "RabbitMQ 3.10.8");
        assert!(s.output.starts_with(b"AMQP\x00\x00\x09\x01"));
        let plain = b"\x00\x00\x00\x0d\0stoatchat\0pw";
        assert!(
            s.output.windows(plain.len()).any(|w| w == plain),
            "PLAIN response sent"
        );
    }

    #[test]
    fn a_refused_sign_in_is_the_servers_close() {
        let mut close = 403u16.to_be_bytes().to_vec();
        shortstr(&mut close, "ACCESS_REFUSED - Login was refused");
        close.extend_from_slice(&[0, 10, 0, 11]);
        let mut s = Script {
            input: std::io::Cursor::new(frames(&[(10, 10, start()), (10, 50, close)])),
            output: Vec::new(),
        };
        match handshake(&mut s, "stoatchat", "wrong") {
            Err(Refusal::Closed { code: 403, text }) => assert!(text.starts_with("ACCESS_REFUSED")),
            other => panic!("{other:?}"),
        }
    }
}
