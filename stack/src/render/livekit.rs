//! livekit.yml: keys, redis, RTC ports, IP mode and the webhook to
//! voice-ingress (whose URL ends with the node name).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{LiveKitIp, Service, StackConfig};
use crate::secrets::Secrets;

#[derive(Serialize)]
struct LiveKitYml {
    port: u16,
    rtc: Rtc,
    redis: Redis,
    turn: Turn,
    keys: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook: Option<Webhook>,
}

#[derive(Serialize)]
struct Rtc {
    tcp_port: u16,
    port_range_start: u16,
    port_range_end: u16,
    use_external_ip: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_ip: Option<String>,
}

#[derive(Serialize)]
struct Redis {
    address: String,
    password: String,
}

#[derive(Serialize)]
struct Turn {
    enabled: bool,
}

#[derive(Serialize)]
struct Webhook {
    api_key: String,
    urls: Vec<String>,
}

pub(super) fn render(config: &StackConfig, secrets: &Secrets) -> String {
    let lk = &config.livekit;
    let key = secrets.livekit_key.expose().to_string();
    let doc = LiveKitYml {
        port: 7880,
        rtc: Rtc {
            tcp_port: lk.tcp_port.get(),
            port_range_start: lk.udp_ports.start().get(),
            port_range_end: lk.udp_ports.end().get(),
            use_external_ip: lk.ip == LiveKitIp::External,
            node_ip: match lk.ip {
                LiveKitIp::External => None,
                LiveKitIp::Fixed(ip) => Some(ip.to_string()),
            },
        },
        redis: Redis {
            address: "redis:6379".into(),
            password: secrets.redis_password.expose().into(),
        },
        turn: Turn { enabled: false },
        keys: BTreeMap::from([(key.clone(), secrets.livekit_secret.expose().to_string())]),
        webhook: config.runs(Service::VoiceIngress).then(|| Webhook {
            api_key: key,
            urls: vec![format!("http://voice-ingress:8500/{}", lk.node)],
        }),
    };
    let body = serde_yaml::to_string(&doc).expect("livekit.yml serializes");
    format!("# Rendered by Burrow; holds secrets.\n{body}")
}
