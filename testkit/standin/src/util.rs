//! Small std-only helpers: SHA-1 and base64 (for the WebSocket handshake),
//! percent-decoding, JSON string escaping, timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// SHA-1 (FIPS 180-4). Only used for `Sec-WebSocket-Accept`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = match chunk.len() {
            1 => u32::from(chunk[0]) << 16,
            2 => u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8,
            _ => u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]),
        };
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard or URL-safe base64, padded or not.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Left-over bits must be zero padding (at most 4 of them).
    if bits >= 6 || acc != 0 {
        return None;
    }
    Some(out)
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON string literal (with quotes).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `2026-01-31T12:34:56.789Z`
pub fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Parts of `scheme://user:pass@host:port/path?query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: Option<u16>,
    /// Path with the query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("`{s}` is not a URL (no scheme)"))?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+')
        {
            return Err(format!("`{s}`: bad scheme"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = if path.is_empty() {
            "/".to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((a, b)) => (percent_decode(a), percent_decode(b)),
                None => (percent_decode(u), String::new()),
            },
            None => (String::new(), String::new()),
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, p) = h
                .split_once(']')
                .ok_or_else(|| format!("`{s}`: bad IPv6 host"))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{s}`: no host"));
        }
        let port = match port {
            Some(p) => Some(p.parse().map_err(|_| format!("`{s}`: bad port `{p}`"))?),
            None => None,
        };
        Ok(Url {
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host,
            port,
            path,
        })
    }

    /// A query parameter, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        let q = self.path.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then(|| percent_decode(v))
        })
    }

    pub fn port_or(&self, default: u16) -> u16 {
        self.port.unwrap_or(default)
    }
}

/// `(uid, gid)` of `user` in `/etc/passwd`.
pub fn passwd_user(user: &str) -> Option<(u32, u32)> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 || f[0] != user {
                return None;
            }
            Some((f[2].parse().ok()?, f[3].parse().ok()?))
        })
}

/// What the official images' entrypoints do when started as root
/// (`find DIR \! -user U -exec chown U {} +; exec gosu U "$0" "$@"`):
/// give `dirs` to `user`, then run on as that user (groups dropped).
/// Started as another user, nothing changes, as in the images.
pub fn drop_to(user: &str, dirs: &[&str]) -> Result<(), String> {
    // SAFETY: plain syscalls without pointers.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let (uid, gid) = passwd_user(user).ok_or_else(|| {
        format!("error: failed switching to \"{user}\": unable to find user {user}: no matching entries in passwd file")
    })?;
    for dir in dirs {
        chown_tree(std::path::Path::new(dir), uid);
    }
    // SAFETY: as above; the order (groups, gid, uid) is the one that works.
    let ok = unsafe {
        libc::setgroups(0, std::ptr::null()) == 0
            && libc::setgid(gid) == 0
            && libc::setuid(uid) == 0
    };
    if !ok {
        return Err(format!(
            "error: failed switching to \"{user}\": {}",
            std::io::Error::last_os_error()
        ));
    }
    crate::info!("running as {user} (uid {uid}, gid {gid}), as the image's entrypoint does");
    Ok(())
}

/// Every entry under `path` not owned by `uid` gets `uid` as its owner
/// (the group stays, like `chown USER`).
fn chown_tree(path: &std::path::Path, uid: u32) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.uid() != uid {
        let _ = std::os::unix::fs::lchown(path, Some(uid), None);
    }
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                chown_tree(&e.path(), uid);
            }
        }
    }
}

/// `exec "$@"`: replaces this process with `args[0]` (looked up on PATH);
/// returns only on failure, with the shell's exit code (126 or 127).
pub fn exec(args: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    let Some((prog, rest)) = args.split_first() else {
        return 0;
    };
    let err = std::process::Command::new(prog).args(rest).exec();
    eprintln!("exec: {prog}: {err}");
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_and_base64_match_rfc6455() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let acc = base64(&sha1(
            format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
        ));
        assert_eq!(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            sha1(b"abc")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn base64_roundtrip() {
        for n in 0..40 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let enc = base64(&data);
            assert_eq!(base64_decode(&enc).unwrap(), data);
            assert_eq!(base64_decode(enc.trim_end_matches('=')).unwrap(), data);
        }
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert!(base64_decode("a$b").is_none());
    }

    #[test]
    fn urls() {
        let u = Url::parse(
            "mongodb://stoatchat:p%40ss@database:27017/revolt?replicaSet=rs0&authSource=revolt",
        )
        .unwrap();
        assert_eq!(u.user, "stoatchat");
        assert_eq!(u.password, "p@ss");
        assert_eq!(u.host, "database");
        assert_eq!(u.port, Some(27017));
        assert_eq!(u.query("replicaSet").as_deref(), Some("rs0"));
        let r = Url::parse("redis://:secret@redis:6379/").unwrap();
        assert_eq!((r.user.as_str(), r.password.as_str()), ("", "secret"));
        let h = Url::parse("http://minio:9000").unwrap();
        assert_eq!(h.path, "/");
        assert!(Url::parse("minio:9000").is_err());
    }

    #[test]
    fn timestamps_look_right() {
        let t = timestamp();
        assert_eq!(t.len(), 24);
        assert!(t.ends_with('Z'));
    }
}
