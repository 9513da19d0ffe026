//! Who holds a port, from `/proc`: the kernel's socket tables
//! (`/proc/net/{tcp,tcp6,udp,udp6}`) give the socket's inode, a process's
//! open files (`/proc/<pid>/fd/*` → `socket:[inode]`) give its owner, and
//! `comm` and `cgroup` name the process, its systemd unit and, for a process
//! inside a container, the container's id. [`HolderLookup`] reads all that
//! once per check, and only when a port is busy.
//!
//! Only this network namespace is visible, and other users' processes only
//! when Burrow runs as root; what cannot be seen is reported as unknown.
//! Everything here is blocking file IO: callers run it off the async runtime.

use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::holders::RawHolder;
use super::ports::Protocol;

/// One line of a `/proc/net` socket table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SocketEntry {
    pub ip: IpAddr,
    pub port: u16,
    /// TCP `LISTEN` (`0A`); a UDP socket is always counted as bound.
    pub listening: bool,
    pub inode: u64,
}

/// Every socket of `protocol` (IPv4 and IPv6) in this network namespace.
pub(super) fn read_table(protocol: Protocol) -> Vec<SocketEntry> {
    let names: [&str; 2] = match protocol {
        Protocol::Tcp => ["tcp", "tcp6"],
        Protocol::Udp => ["udp", "udp6"],
    };
    names
        .iter()
        .filter_map(|name| fs::read_to_string(Path::new("/proc/net").join(name)).ok())
        .flat_map(|text| parse_table(&text, protocol))
        .collect()
}

/// Parses a `/proc/net/{tcp,udp}[6]` table; the header and broken lines are
/// skipped.
pub(super) fn parse_table(text: &str, protocol: Protocol) -> Vec<SocketEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (ip, port) = parse_endpoint(fields.get(1)?)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?.parse().ok()?;
            let listening = match protocol {
                Protocol::Tcp => *state == "0A",
                Protocol::Udp => true,
            };
            Some(SocketEntry {
                ip,
                port,
                listening,
                inode,
            })
        })
        .collect()
}

/// `0100007F:1F90` → 127.0.0.1:8080. The kernel prints each 32-bit word of
/// the address (stored in network order) as a native-endian number.
fn parse_endpoint(field: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Socket inode → pid of a process that has it open, for every process this
/// one may look into.
pub(super) fn socket_owners() -> HashMap<u64, u32> {
    let mut owners = HashMap::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return owners;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(inode) = socket_inode(&target.to_string_lossy()) {
                owners.entry(inode).or_insert(pid);
            }
        }
    }
    owners
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// What `/proc/<pid>` says about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProcessInfo {
    pub pid: u32,
    /// `comm`: the executable's name, at most 15 bytes.
    pub name: String,
    /// The systemd service it runs in (`nginx.service`), if any.
    pub unit: Option<String>,
    /// The Docker container it runs in (full id), if any.
    pub container_id: Option<String>,
}

pub(super) fn process_info(pid: u32) -> ProcessInfo {
    let dir = Path::new("/proc").join(pid.to_string());
    let name = fs::read_to_string(dir.join("comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "an unknown process".to_string());
    let cgroup = fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
    let (unit, container_id) = parse_cgroup(&cgroup);
    ProcessInfo {
        pid,
        name,
        unit,
        container_id,
    }
}

/// The systemd service and the Docker container a process's cgroup names,
/// for both cgroup v2 (`0::/system.slice/nginx.service`) and v1 lines, and
/// both cgroup drivers (`/system.slice/docker-<id>.scope`, `/docker/<id>`).
pub(super) fn parse_cgroup(text: &str) -> (Option<String>, Option<String>) {
    let mut unit = None;
    let mut container = None;
    for line in text.lines() {
        let Some(path) = line.splitn(3, ':').nth(2) else {
            continue;
        };
        for part in path.split('/') {
            if let Some(id) = part
                .strip_prefix("docker-")
                .and_then(|p| p.strip_suffix(".scope"))
                .filter(|id| is_container_id(id))
            {
                container = Some(id.to_string());
            } else if is_container_id(part) && path.contains("/docker/") {
                container = Some(part.to_string());
            } else if part.ends_with(".service") && path.starts_with("/system.slice/") {
                unit.get_or_insert_with(|| part.to_string());
            }
        }
    }
    // A container's processes live in the container's scope, not a unit.
    if container.is_some() {
        unit = None;
    }
    (unit, container)
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `/proc` read lazily, once per check.
#[derive(Default)]
pub(super) struct HolderLookup {
    tables: HashMap<Protocol, Vec<SocketEntry>>,
    owners: Option<HashMap<u64, u32>>,
    processes: HashMap<u32, ProcessInfo>,
}

impl HolderLookup {
    /// The holders of `port` as seen from `bind`. With `in_use` (binding said
    /// so), a holder Burrow cannot see is reported as unknown.
    pub(super) fn holders(
        &mut self,
        protocol: Protocol,
        bind: IpAddr,
        port: u16,
        in_use: bool,
    ) -> Vec<RawHolder> {
        let table = self
            .tables
            .entry(protocol)
            .or_insert_with(|| read_table(protocol));
        let on_port = |strict: bool| -> Vec<u64> {
            table
                .iter()
                .filter(|e| e.port == port && (!strict || (e.listening && overlaps(bind, e.ip))))
                .map(|e| e.inode)
                .collect()
        };
        let mut inodes = on_port(true);
        if inodes.is_empty() && in_use {
            inodes = on_port(false);
        }
        if inodes.is_empty() {
            return if in_use {
                vec![RawHolder::Unknown]
            } else {
                Vec::new()
            };
        }
        let owners = self.owners.get_or_insert_with(socket_owners);
        let mut found = Vec::new();
        for inode in inodes {
            let holder = match owners.get(&inode) {
                Some(&pid) => RawHolder::Process(
                    self.processes
                        .entry(pid)
                        .or_insert_with(|| process_info(pid))
                        .clone(),
                ),
                None => RawHolder::Unknown,
            };
            if !found.contains(&holder) {
                found.push(holder);
            }
        }
        found
    }
}

/// Whether a socket on `b` competes with one on `a` for the same port.
pub(super) fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    let (a, b) = (a.to_canonical(), b.to_canonical());
    if a == b {
        return true;
    }
    let any_v6 = |ip: IpAddr| ip.is_ipv6() && ip.is_unspecified();
    if a.is_ipv4() == b.is_ipv4() {
        a.is_unspecified() || b.is_unspecified()
    } else {
        any_v6(a) || any_v6(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_table_lines_parse() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1\n";
        let entries = parse_table(text, Protocol::Tcp);
        assert_eq!(
            entries,
            vec![
                SocketEntry {
                    ip: "127.0.0.1".parse().unwrap(),
                    port: 8080,
                    listening: true,
                    inode: 4242
                },
                SocketEntry {
                    ip: "127.0.0.1".parse().unwrap(),
                    port: 8080,
                    listening: false,
                    inode: 4243
                },
            ]
        );
    }

    #[test]
    fn ipv6_addresses_parse() {
        let (ip, port) = parse_endpoint("00000000000000000000000001000000:01BB").unwrap();
        assert_eq!(ip, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(port, 443);
        let (ip, _) = parse_endpoint("00000000000000000000000000000000:0050").unwrap();
        assert!(ip.is_unspecified());
    }

    #[test]
    fn cgroups_name_units_and_containers() {
        let id = "a".repeat(64);
        assert_eq!(
            parse_cgroup("0::/system.slice/nginx.service\n"),
            (Some("nginx.service".into()), None)
        );
        assert_eq!(
            parse_cgroup(&format!("0::/system.slice/docker-{id}.scope\n")),
            (None, Some(id.clone()))
        );
        assert_eq!(
            parse_cgroup(&format!(
                "12:pids:/docker/{id}\n1:name=systemd:/docker/{id}\n"
            )),
            (None, Some(id.clone()))
        );
        assert_eq!(
            parse_cgroup("0::/user.slice/user-0.slice/session-3.scope\n"),
            (None, None)
        );
    }

    #[test]
    fn socket_links_give_inodes() {
        assert_eq!(socket_inode("socket:[98765]"), Some(98765));
        assert_eq!(socket_inode("pipe:[98765]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }
}
