//! Name resolution and TCP connects.
//!
//! A statically linked glibc cannot load its NSS plugins in a `FROM scratch`
//! image, so `getaddrinfo` does not see Docker's embedded DNS. Names are
//! resolved here: IP literals, `/etc/hosts`, then an A query to the
//! `nameserver`s of `/etc/resolv.conf` (Docker's 127.0.0.11), then libc as a
//! last resort.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn not_found(host: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("failed to resolve `{host}`: {why}"),
    )
}

pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let ips = hosts_file(host);
    if !ips.is_empty() {
        return Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect());
    }
    let servers = nameservers();
    let mut last = String::from("no nameserver in /etc/resolv.conf");
    for ns in &servers {
        match query_a(*ns, host) {
            Ok(ips) if !ips.is_empty() => {
                return Ok(ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(IpAddr::V4(ip), port))
                    .collect())
            }
            Ok(_) => last = "no such host".into(),
            Err(e) => last = e,
        }
    }
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let v: Vec<_> = addrs.collect();
            if v.is_empty() {
                Err(not_found(host, &last))
            } else {
                Ok(v)
            }
        }
        Err(_) => Err(not_found(host, &last)),
    }
}

fn hosts_file(host: &str) -> Vec<IpAddr> {
    let Ok(text) = std::fs::read_to_string("/etc/hosts") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next().and_then(|f| f.parse::<IpAddr>().ok()) else {
            continue;
        };
        if fields.any(|n| n.eq_ignore_ascii_case(host)) && !out.contains(&ip) {
            // IPv4 first: Docker networks here are IPv4-only.
            if ip.is_ipv4() {
                out.insert(0, ip);
            } else {
                out.push(ip);
            }
        }
    }
    out
}

fn nameservers() -> Vec<IpAddr> {
    let Ok(text) = std::fs::read_to_string("/etc/resolv.conf") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("nameserver"))
                .then(|| f.next().and_then(|ip| ip.parse().ok()))
                .flatten()
        })
        .collect()
}

/// One DNS A query over UDP; the answer's A records.
fn query_a(server: IpAddr, host: &str) -> Result<Vec<Ipv4Addr>, String> {
    let id = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos()
        & 0xffff) as u16;
    let mut q = Vec::with_capacity(32 + host.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in host.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("bad host name `{host}`"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1500];
    for _attempt in 0..2 {
        sock.send_to(&q, SocketAddr::new(server, 53))
            .map_err(|e| e.to_string())?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(e) => return Err(e.to_string()),
        };
        let r = &buf[..n];
        if n < 12 || r[0..2] != id.to_be_bytes() {
            continue;
        }
        let rcode = r[3] & 0x0f;
        if rcode == 3 {
            return Err("no such host".into());
        }
        if rcode != 0 {
            return Err(format!("DNS error (rcode {rcode})"));
        }
        let qd = u16::from_be_bytes([r[4], r[5]]) as usize;
        let an = u16::from_be_bytes([r[6], r[7]]) as usize;
        let mut pos = 12;
        for _ in 0..qd {
            pos = skip_name(r, pos).ok_or("bad DNS answer")? + 4;
        }
        let mut ips = Vec::new();
        for _ in 0..an {
            pos = skip_name(r, pos).ok_or("bad DNS answer")?;
            if pos + 10 > n {
                break;
            }
            let typ = u16::from_be_bytes([r[pos], r[pos + 1]]);
            let len = u16::from_be_bytes([r[pos + 8], r[pos + 9]]) as usize;
            pos += 10;
            if pos + len > n {
                break;
            }
            if typ == 1 && len == 4 {
                ips.push(Ipv4Addr::new(r[pos], r[pos + 1], r[pos + 2], r[pos + 3]));
            }
            pos += len;
        }
        return Ok(ips);
    }
    Err(format!("no answer from {server}"))
}

fn skip_name(r: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *r.get(pos)? as usize;
        if len == 0 {
            return Some(pos + 1);
        }
        if len & 0xc0 == 0xc0 {
            return Some(pos + 2);
        }
        pos += len + 1;
    }
}

pub fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let addrs = resolve(host, port)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(timeout));
                let _ = s.set_write_timeout(Some(timeout));
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(io::Error::new(
        last.kind(),
        format!("{host}:{port}: {last}"),
    ))
}
