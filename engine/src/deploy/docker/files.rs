//! Config files delivered without host bind mounts: after the container is
//! created and before it starts, one tar archive with every file at its
//! target path and mode is extracted into it. Files belong to the image's
//! user, so a 0600 secret stays readable by a service that is not root.

use std::io::Read;

use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use bollard::Docker;
use futures_util::TryStreamExt;
use stack::render::{Mount, ServiceSpec};

use super::container::Context;
use crate::deploy::DeployError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileEntry {
    /// Absolute path in the container.
    pub target: String,
    pub content: Vec<u8>,
    pub mode: u32,
}

/// The files `spec` gets: plan files, and the host files the deploy provides
/// (a private key 0600, anything else 0644).
pub(super) fn entries(ctx: &Context<'_>, spec: &ServiceSpec) -> Vec<FileEntry> {
    spec.mounts
        .iter()
        .filter_map(|m| {
            let mode = m.file_mode(&ctx.plan.files)?;
            let (content, target) = match m {
                Mount::File { file, target } => (
                    ctx.plan.files.get(file)?.content.as_bytes().to_vec(),
                    target,
                ),
                Mount::Host { source, target } => (ctx.host_files.get(source)?.clone(), target),
                Mount::Volume { .. } => return None,
            };
            Some(FileEntry {
                target: target.clone(),
                content,
                mode,
            })
        })
        .collect()
}

/// A tar archive of `entries`, paths relative to `/`. Only files: missing
/// parent directories are created by the daemon, existing ones keep their
/// owner and mode.
pub(super) fn archive(entries: &[FileEntry], uid: u64, gid: u64) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(e.content.len() as u64);
        header.set_mode(e.mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_mtime(0);
        builder.append_data(
            &mut header,
            e.target.trim_start_matches('/'),
            e.content.as_slice(),
        )?;
    }
    builder.into_inner()
}

/// Puts `entries` into the created (not yet started) `container`, owned by
/// `user` (the image's `User`, resolved against the container's
/// `/etc/passwd` and `/etc/group` when it is a name).
pub(super) async fn deliver(
    docker: &Docker,
    container: &str,
    user: &str,
    entries: &[FileEntry],
) -> Result<(), DeployError> {
    if entries.is_empty() {
        return Ok(());
    }
    let (uid, gid) = owner(docker, container, user).await;
    let tar = archive(entries, uid, gid).map_err(|e| DeployError::InvalidPlan {
        message: format!("the files for {container} could not be packed: {e}"),
    })?;
    docker
        .upload_to_container(
            container,
            Some(UploadToContainerOptions {
                path: "/".to_string(),
                ..Default::default()
            }),
            bollard::body_full(tar.into()),
        )
        .await
        .map_err(DeployError::docker(format!(
            "copying the config files into {container}"
        )))
}

/// uid and gid for `user` (`name`, `uid`, `name:group`, `uid:gid`); root
/// when it cannot be resolved.
async fn owner(docker: &Docker, container: &str, user: &str) -> (u64, u64) {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if user_part.is_empty() || user_part == "root" {
        return (0, 0);
    }
    let passwd = read_file(docker, container, "/etc/passwd").await;
    let entry = passwd.as_deref().and_then(|p| passwd_entry(p, user_part));
    let uid = match user_part.parse::<u64>() {
        Ok(uid) => uid,
        Err(_) => match entry {
            Some((uid, _)) => uid,
            None => {
                tracing::warn!(%container, %user, "image user not in /etc/passwd; files owned by root");
                return (0, 0);
            }
        },
    };
    let gid = match group_part {
        Some(g) => match g.parse::<u64>() {
            Ok(gid) => gid,
            Err(_) => read_file(docker, container, "/etc/group")
                .await
                .as_deref()
                .and_then(|groups| group_gid(groups, g))
                .unwrap_or(0),
        },
        None => entry.map_or(0, |(_, gid)| gid),
    };
    (uid, gid)
}

/// `(uid, gid)` of the passwd line whose name (or uid) is `user`.
fn passwd_entry(passwd: &str, user: &str) -> Option<(u64, u64)> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || (f[0] != user && f[2] != user) {
            return None;
        }
        Some((f[2].parse().ok()?, f[3].parse().ok()?))
    })
}

fn group_gid(groups: &str, group: &str) -> Option<u64> {
    groups.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 3 && f[0] == group).then(|| f[2].parse().ok())?
    })
}

/// A small text file from the container's filesystem, if it has it.
pub(super) async fn read_file(docker: &Docker, container: &str, path: &str) -> Option<String> {
    let chunks: Vec<bytes::Bytes> = docker
        .download_from_container(
            container,
            Some(DownloadFromContainerOptions {
                path: path.to_string(),
            }),
        )
        .try_collect()
        .await
        .ok()?;
    let tar_bytes = chunks.concat();
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut entry = archive.entries().ok()?.next()?.ok()?;
    let mut text = String::new();
    entry.read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_holds_files_at_their_paths() {
        let entries = vec![FileEntry {
            target: "/etc/caddy/Caddyfile".into(),
            content: b"hello".to_vec(),
            mode: 0o600,
        }];
        let bytes = archive(&entries, 65532, 65533).unwrap();
        let mut a = tar::Archive::new(bytes.as_slice());
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_str(), Some("etc/caddy/Caddyfile"));
        assert_eq!(e.header().mode().unwrap(), 0o600);
        assert_eq!(e.header().uid().unwrap(), 65532);
        assert_eq!(e.header().gid().unwrap(), 65533);
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn users_resolve_from_passwd_and_group() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nmongodb:x:999:998::/data:/bin/false\n";
        assert_eq!(passwd_entry(passwd, "mongodb"), Some((999, 998)));
        assert_eq!(passwd_entry(passwd, "999"), Some((999, 998)));
        assert_eq!(passwd_entry(passwd, "nobody"), None);
        assert_eq!(group_gid("root:x:0:\nstaff:x:50:\n", "staff"), Some(50));
    }
}
