//! A constant load through a stack's Caddy, for `bench/zero-downtime.sh`:
//! GETs of the API root and the web app, every tenth request a POST of a
//! 64 KB body, one slow request held from the start, one WebSocket held
//! open (opened again whenever it drops). Each request on a new TLS
//! connection, as new clients make them. Runs until FILE exists, then
//! prints what failed.
//!
//! Usage: load --config STACK_TOML --ca CA_PEM --until FILE [--rate 100]
//!        [--slow-ms 20000]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::chat_probe::Client;
use http::Method;

struct Args {
    config: PathBuf,
    ca: PathBuf,
    until: PathBuf,
    rate: u32,
    slow_ms: u64,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut config, mut ca, mut until) = (None, None, None);
    let (mut rate, mut slow_ms) = (100, 20_000);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => config = Some(PathBuf::from(value()?)),
            "--ca" => ca = Some(PathBuf::from(value()?)),
            "--until" => until = Some(PathBuf::from(value()?)),
            "--rate" => rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--slow-ms" => slow_ms = value()?.parse().map_err(|e| format!("--slow-ms: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Args {
        config: config.ok_or("--config is required")?,
        ca: ca.ok_or("--ca is required")?,
        until: until.ok_or("--until is required")?,
        rate: rate.max(1),
        slow_ms,
    })
}

/// What one kind of request got: answered 2xx, answered otherwise (by
/// status), not answered (by reason).
#[derive(Default)]
struct Tally {
    ok: usize,
    statuses: BTreeMap<u16, usize>,
    errors: BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, answer: Result<u16, String>) {
        match answer {
            Ok(s) if (200..300).contains(&s) => self.ok += 1,
            Ok(s) => *self.statuses.entry(s).or_default() += 1,
            Err(e) => *self.errors.entry(e).or_default() += 1,
        }
    }

    fn failed(&self) -> usize {
        self.statuses.values().sum::<usize>() + self.errors.values().sum::<usize>()
    }
}

#[tokio::main]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let text = std::fs::read_to_string(&args.config).expect("the stack.toml");
    let config = stack::model::parse_stack_toml(&text)
        .expect("a valid stack.toml")
        .config;
    let ca = std::fs::read_to_string(&args.ca).expect("the CA's PEM");
    let client = Client::new(&config, Some(&ca));
    let stopped = {
        let until = args.until.clone();
        move || until.exists()
    };

    let slow = {
        let client = client.clone();
        let ms = args.slow_ms;
        tokio::spawn(async move {
            client
                .request(
                    Method::GET,
                    &format!("/api/standin/slow?ms={ms}"),
                    Bytes::new(),
                    Duration::from_millis(ms) + Duration::from_secs(60),
                )
                .await
        })
    };
    let websocket = {
        let client = client.clone();
        let stopped = stopped.clone();
        tokio::spawn(async move {
            let (mut drops, mut refused) = (Vec::new(), 0usize);
            while !stopped() {
                match client.hold_websocket("/ws").await {
                    Ok(open) => {
                        tokio::pin!(open);
                        loop {
                            tokio::select! {
                                why = &mut open => { drops.push(why); break; }
                                () = tokio::time::sleep(Duration::from_millis(100)) => {
                                    if stopped() { break; }
                                }
                            }
                        }
                    }
                    Err(_) => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            }
            (drops, refused)
        })
    };

    let body = Bytes::from(vec![b'x'; 64 * 1024]);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / args.rate);
    let begun = Instant::now();
    let mut sent = Vec::new();
    for n in 0u64.. {
        tick.tick().await;
        if stopped() {
            break;
        }
        let client = client.clone();
        let (kind, method, path, body) = match n % 10 {
            9 => (
                "POST 64 KB /api/standin/echo",
                Method::POST,
                "/api/standin/echo",
                body.clone(),
            ),
            n if n % 2 == 0 => ("GET /api/", Method::GET, "/api/", Bytes::new()),
            _ => ("GET /", Method::GET, "/", Bytes::new()),
        };
        sent.push((
            kind,
            tokio::spawn(async move {
                client
                    .request(method, path, body, Duration::from_secs(30))
                    .await
            }),
        ));
    }
    let elapsed = begun.elapsed();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for (kind, answer) in sent {
        let answer = answer.await.unwrap_or_else(|e| Err(e.to_string()));
        tallies.entry(kind).or_default().add(answer);
    }
    let (drops, refused) = websocket.await.unwrap_or_default();
    let slow = slow.await.unwrap_or_else(|e| Err(e.to_string()));

    let total: usize = tallies.values().map(|t| t.ok + t.failed()).sum();
    let failed: usize = tallies.values().map(Tally::failed).sum();
    println!(
        "requests={total} failed={failed} rate={:.0}/s websocket_drops={} websocket_refused={refused} slow={}",
        total as f64 / elapsed.as_secs_f64(),
        drops.len(),
        match &slow {
            Ok(s) => format!("{s}"),
            Err(e) => format!("failed({e})"),
        }
    );
    for (kind, t) in &tallies {
        println!("  {kind}: {} ok, {} failed", t.ok, t.failed());
        for (status, n) in &t.statuses {
            println!("    HTTP {status}: {n}");
        }
        for (why, n) in &t.errors {
            println!("    {why}: {n}");
        }
    }
    let mut ended: BTreeMap<&str, usize> = BTreeMap::new();
    for why in &drops {
        *ended.entry(why.as_str()).or_default() += 1;
    }
    for (why, n) in ended {
        println!("  websocket ended ({why}): {n}, opened again");
    }
}
