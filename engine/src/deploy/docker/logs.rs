//! Log streams: one service's, or every service's merged in time order.
//! Following survives restarts and recreations: when a container's stream
//! ends, Burrow waits for the service's (new) container and resumes after the
//! last line it delivered.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use wire::ansi;

use super::{container_name, label, stack_containers};
use crate::deploy::error::stack_name;
use crate::deploy::{DeployError, LogLine, LogStream};

/// How often a follower looks again for a container that is gone or stopped,
/// and how often the merged stream looks for new services.
const RECHECK: Duration = Duration::from_secs(1);
const NEW_SERVICES: Duration = Duration::from_secs(5);

type Tx = mpsc::Sender<Result<LogLine, DeployError>>;

/// A line and its parsed time (for merging and resuming).
struct Timed {
    at: Option<OffsetDateTime>,
    line: LogLine,
}

pub(super) fn stream(
    docker: Docker,
    stack: String,
    service: Option<String>,
    tail: usize,
    follow: bool,
) -> BoxStream<'static, Result<LogLine, DeployError>> {
    // Spawned on first poll, so the caller needs no runtime to build it;
    // everything stops when the receiver is dropped.
    stream::once(async move {
        let (tx, rx) = mpsc::channel(512);
        tokio::spawn(async move {
            if let Err(e) = run(docker, stack, service, tail, follow, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|item| (item, rx))
        })
    })
    .flatten()
    .boxed()
}

async fn run(
    docker: Docker,
    stack: String,
    service: Option<String>,
    tail: usize,
    follow: bool,
    tx: &Tx,
) -> Result<(), DeployError> {
    stack_name(&stack)?;
    let started = OffsetDateTime::now_utc();
    let services: Vec<String> = match &service {
        Some(s) => {
            let name = container_name(&stack, s);
            if let Err(e) = docker.inspect_container(&name, None).await {
                return Err(match e {
                    BollardError::DockerResponseServerError {
                        status_code: 404, ..
                    } => DeployError::NoSuchService {
                        stack,
                        service: s.clone(),
                    },
                    e => DeployError::docker(format!("inspecting {name}"))(e),
                });
            }
            vec![s.clone()]
        }
        None => {
            let mut found: Vec<(usize, String)> = stack_containers(&docker, &stack)
                .await?
                .into_iter()
                .map(|(service, c)| (order_of(&c), service))
                .collect();
            found.sort();
            found.into_iter().map(|(_, s)| s).collect()
        }
    };

    let tails = futures_util::future::join_all(services.iter().map(|s| {
        let docker = &docker;
        let container = container_name(&stack, s);
        async move { fetch(docker, &container, s, tail).await }
    }))
    .await;
    let mut merged: Vec<Timed> = tails.into_iter().flatten().flatten().collect();
    merged.sort_by_key(|t| t.at);
    let skip = merged.len().saturating_sub(tail);
    let mut last_seen: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
    for t in merged.into_iter().skip(skip) {
        if let Some(at) = t.at {
            last_seen.insert(t.line.service.clone(), at);
        }
        if tx.send(Ok(t.line)).await.is_err() {
            return Ok(());
        }
    }
    if !follow {
        return Ok(());
    }

    let mut following: HashSet<String> = HashSet::new();
    loop {
        for s in &services_now(&docker, &stack, &service, &services).await {
            if following.insert(s.clone()) {
                let resume = last_seen.get(s).copied().unwrap_or(started);
                tokio::spawn(follow_service(
                    docker.clone(),
                    stack.clone(),
                    s.clone(),
                    resume,
                    tx.clone(),
                ));
            }
        }
        if service.is_some() {
            return Ok(());
        }
        tokio::select! {
            _ = tx.closed() => return Ok(()),
            _ = tokio::time::sleep(NEW_SERVICES) => {}
        }
    }
}

/// The services to follow: the one asked for, or all the stack has now.
async fn services_now(
    docker: &Docker,
    stack: &str,
    service: &Option<String>,
    known: &[String],
) -> Vec<String> {
    match service {
        Some(_) => known.to_vec(),
        None => match stack_containers(docker, stack).await {
            Ok(c) => c.into_keys().collect(),
            Err(_) => known.to_vec(),
        },
    }
}

fn order_of(c: &bollard::models::ContainerSummary) -> usize {
    c.labels
        .as_ref()
        .and_then(|l| l.get(label::ORDER))
        .and_then(|o| o.parse().ok())
        .unwrap_or(usize::MAX)
}

/// The last `tail` lines of one container (none if it is gone).
async fn fetch(
    docker: &Docker,
    container: &str,
    service: &str,
    tail: usize,
) -> Result<Vec<Timed>, DeployError> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&tail.to_string())
        .build();
    let chunks: Vec<LogOutput> = match docker.logs(container, Some(options)).try_collect().await {
        Ok(c) => c,
        Err(BollardError::DockerResponseServerError {
            status_code: 404, ..
        }) => Vec::new(),
        Err(e) => {
            return Err(DeployError::docker(format!(
                "reading the logs of {container}"
            ))(e))
        }
    };
    Ok(chunks.iter().flat_map(|c| parse(service, c)).collect())
}

/// Follows one service from `resume` on, until the receiver is dropped.
async fn follow_service(
    docker: Docker,
    stack: String,
    service: String,
    mut resume: OffsetDateTime,
    tx: Tx,
) {
    let container = container_name(&stack, &service);
    loop {
        let since = i32::try_from(resume.unix_timestamp()).unwrap_or(0);
        let options = LogsOptionsBuilder::new()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(since)
            .build();
        let mut chunks = docker.logs(&container, Some(options));
        loop {
            let chunk = tokio::select! {
                _ = tx.closed() => return,
                chunk = chunks.next() => chunk,
            };
            let Some(Ok(chunk)) = chunk else { break };
            for t in parse(&service, &chunk) {
                // `since` has whole seconds: skip what was already delivered.
                if let Some(at) = t.at {
                    if at <= resume {
                        continue;
                    }
                    resume = at;
                }
                if tx.send(Ok(t.line)).await.is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(RECHECK) => {}
        }
    }
}

/// The lines of one chunk (`<RFC 3339 time> <text>` each, with timestamps on).
fn parse(service: &str, chunk: &LogOutput) -> Vec<Timed> {
    let (stream, bytes) = match chunk {
        LogOutput::StdErr { message } => (LogStream::Stderr, message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            (LogStream::Stdout, message)
        }
        LogOutput::StdIn { .. } => return Vec::new(),
    };
    String::from_utf8_lossy(bytes)
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (at, timestamp, text) = match l.split_once(' ') {
                Some((ts, rest)) => match OffsetDateTime::parse(ts, &Rfc3339) {
                    Ok(at) => (Some(at), Some(ts.to_string()), rest),
                    Err(_) => (None, None, l),
                },
                None => match OffsetDateTime::parse(l, &Rfc3339) {
                    Ok(at) => (Some(at), Some(l.to_string()), ""),
                    Err(_) => (None, None, l),
                },
            };
            Timed {
                at,
                line: LogLine {
                    service: service.to_string(),
                    stream,
                    timestamp,
                    text: text.to_string(),
                },
            }
        })
        .collect()
}

/// The last `n` lines of a container as plain text (for error messages).
pub(super) async fn last_lines(docker: &Docker, container: &str, n: usize) -> Vec<String> {
    match fetch(docker, container, "", n).await {
        Ok(lines) => lines
            .into_iter()
            .map(|t| ansi::strip(&t.line.text))
            .collect(),
        Err(e) => vec![format!("(could not read its logs: {e})")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::ansi::strip as strip_ansi;

    #[test]
    fn escape_sequences_are_stripped_for_plain_text() {
        assert_eq!(
            strip_ansi("\x1b[2m2026\x1b[0m \x1b[31mERROR\x1b[0m api: no rabbit"),
            "2026 ERROR api: no rabbit"
        );
        assert_eq!(strip_ansi("\x1b]0;title\x07plain"), "plain");
        assert_eq!(strip_ansi("\x1b[1;38;5;208mhot\x1b[m ok ✓"), "hot ok ✓");
        assert_eq!(strip_ansi("no escapes"), "no escapes");
        // Escapes a hand scanner lets through: `tput sgr0`'s charset
        // selection, DCS strings, hyperlinks, private modes, colon colours.
        assert_eq!(strip_ansi("\x1b[1mbold\x1b(B\x1b[m."), "bold.");
        assert_eq!(strip_ansi("\x1bP1$r0m\x1b\\ready"), "ready");
        assert_eq!(
            strip_ansi("\x1b]8;;https://stoat.chat\x1b\\docs\x1b]8;;\x1b\\ \x1b[?25lok"),
            "docs ok"
        );
        assert_eq!(strip_ansi("\x1b[38:2::255:0:0mred\x1b[0m"), "red");
    }

    #[test]
    fn timestamps_are_split_off() {
        let chunk = LogOutput::StdErr {
            message: "2026-11-23T09:00:01.123456789Z listening on :14702\n".into(),
        };
        let lines = parse("api", &chunk);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].line.text, "listening on :14702");
        assert_eq!(lines[0].line.stream, LogStream::Stderr);
        assert_eq!(
            lines[0].line.timestamp.as_deref(),
            Some("2026-11-23T09:00:01.123456789Z")
        );
        assert!(lines[0].at.is_some());
        let plain = parse(
            "api",
            &LogOutput::StdOut {
                message: "no time here\n".into(),
            },
        );
        assert_eq!(plain[0].line.text, "no time here");
        assert_eq!(plain[0].at, None);
    }
}
