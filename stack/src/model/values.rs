//! Value newtypes: each has a `parse` constructor, so a value that exists is
//! valid. Serde goes through `parse` as well.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a single value was refused. The message is written for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A DNS name (lower-cased), e.g. `chat.example.com`. No scheme, port or path.
    DomainName
);

string_newtype!(
    /// Where mail is relayed: a DNS name, or an IP address (a relay on the
    /// LAN). Whether TLS can be used with an address is a cross-field rule.
    MailHost
);

impl MailHost {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        if let Ok(ip) = s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
        {
            return Ok(Self(ip.to_string()));
        }
        DomainName::parse(s).map(|d| Self(d.0)).map_err(|e| {
            invalid(format!(
                "{}; an IP address (e.g. 192.168.1.25) works too",
                e.0.trim_end_matches('.')
            ))
        })
    }

    /// An IP address rather than a name.
    pub fn is_ip(&self) -> bool {
        self.0.parse::<std::net::IpAddr>().is_ok()
    }
}

impl DomainName {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim().trim_end_matches('.').to_ascii_lowercase();
        if s.is_empty() {
            return Err(invalid("enter a domain name, e.g. chat.example.com"));
        }
        if s.contains("://") || s.contains('/') || s.contains(':') {
            return Err(invalid(
                "enter the bare domain name, without scheme, port or path",
            ));
        }
        if s.len() > 253 {
            return Err(invalid("a domain name has at most 253 characters"));
        }
        for label in s.split('.') {
            if label.is_empty() {
                return Err(invalid(
                    "a domain name cannot contain empty labels (\"..\")",
                ));
            }
            if label.len() > 63 {
                return Err(invalid(
                    "each part of a domain name has at most 63 characters",
                ));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(invalid(
                    "a domain name may contain only letters, digits, '-' and '.'",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid(
                    "a part of a domain name cannot start or end with '-'",
                ));
            }
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(invalid(
                "enter a domain name, not an IP address (Stoat needs a name for TLS)",
            ));
        }
        Ok(Self(s))
    }

    /// Names no public ACME CA will issue for.
    pub fn is_private(&self) -> bool {
        let s = self.0.as_str();
        !s.contains('.')
            || [
                ".local",
                ".localhost",
                ".internal",
                ".lan",
                ".home.arpa",
                ".test",
            ]
            .iter()
            .any(|suffix| s.ends_with(suffix))
    }
}

string_newtype!(
    /// An e-mail address (`local@domain`), checked for shape only.
    EmailAddress
);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(invalid("an e-mail address looks like name@example.com"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(invalid("the part before '@' must have 1 to 64 characters"));
        }
        if local.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | '@')
        }) {
            return Err(invalid(
                "the part before '@' contains a character not allowed here",
            ));
        }
        DomainName::parse(domain)
            .map_err(|e| invalid(format!("the part after '@' is not a domain: {e}")))?;
        Ok(Self(s.to_string()))
    }
}

string_newtype!(
    /// An `https://` URL (ACME directory and the like).
    HttpsUrl
);

impl HttpsUrl {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        let Some(rest) = s.strip_prefix("https://") else {
            return Err(invalid("the URL must start with https://"));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("the URL has no valid host"));
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
        {
            return Err(invalid("the URL cannot contain spaces or quotes"));
        }
        Ok(Self(s.to_string()))
    }
}

string_newtype!(
    /// One or more CA certificates in PEM (a private ACME directory's root,
    /// which Caddy trusts for that directory).
    CaCertificates
);

impl CaCertificates {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        use base64::Engine as _;
        let s = input.trim();
        if s.contains("PRIVATE KEY") {
            return Err(invalid(
                "this is a private key: paste the CA certificate (-----BEGIN CERTIFICATE-----)",
            ));
        }
        let mut found = 0;
        let mut rest = s;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
            let Some(end) = body.find("-----END CERTIFICATE-----") else {
                return Err(invalid(
                    "a certificate has no -----END CERTIFICATE----- line",
                ));
            };
            let b64: String = body[..end].split_whitespace().collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|_| invalid("a certificate in it is not valid base64"))?;
            // A DER certificate is a SEQUENCE.
            if der.first() != Some(&0x30) {
                return Err(invalid("a certificate in it is not a DER certificate"));
            }
            found += 1;
            rest = &body[end + "-----END CERTIFICATE-----".len()..];
        }
        if found == 0 {
            return Err(invalid(
                "no certificate found: paste the CA certificate in PEM (-----BEGIN CERTIFICATE-----)",
            ));
        }
        Ok(Self(format!("{s}\n")))
    }
}

string_newtype!(
    /// An absolute file path on the host running the stack (own certificate files).
    HostPath
);

impl HostPath {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        if !s.starts_with('/') {
            return Err(invalid("enter an absolute path, starting with '/'"));
        }
        if s.chars()
            .any(|c| c.is_control() || c == '"' || c == '{' || c == '}')
        {
            return Err(invalid(
                "the path contains a character that cannot be used here",
            ));
        }
        if s.split('/').any(|part| part == "..") {
            return Err(invalid("the path cannot contain '..'"));
        }
        Ok(Self(s.to_string()))
    }
}

string_newtype!(
    /// A LiveKit node name: it becomes a TOML key, a URL segment and a map key
    /// in four places, so it is kept to `[a-z0-9_-]`, 1..=32 characters.
    NodeName
);

impl NodeName {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        if s.is_empty() || s.len() > 32 {
            return Err(invalid("a node name has 1 to 32 characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "a node name may contain only lower-case letters, digits, '-' and '_'",
            ));
        }
        // Its key and secret reach Stoat as REVOLT__API__LIVEKIT__NODES__<NAME>__KEY,
        // where every `__` is a separator.
        if s.contains("__") || s.ends_with('_') {
            return Err(invalid(
                "a node name may not hold '__' or end with '_' (Stoat reads it from \
                 environment variable names, where '__' separates the parts)",
            ));
        }
        Ok(Self(s.to_string()))
    }
}

impl Default for NodeName {
    fn default() -> Self {
        Self("worldwide".to_string())
    }
}

string_newtype!(
    /// The stack's name: prefix of its containers, network and volumes
    /// (`<name>-api`, `<name>_mongo-data`), 1..=32 of `[a-z0-9-]`, starting
    /// with a letter.
    StackName
);

impl StackName {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        if s.is_empty() || s.len() > 32 {
            return Err(invalid("a stack name has 1 to 32 characters"));
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(invalid("a stack name starts with a lower-case letter"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "a stack name may contain only lower-case letters, digits and '-'",
            ));
        }
        Ok(Self(s.to_string()))
    }
}

impl Default for StackName {
    fn default() -> Self {
        Self("stoat".to_string())
    }
}

string_newtype!(
    /// A container image reference: `[registry/]repository[:tag][@sha256:digest]`.
    ImageRef
);

impl ImageRef {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        if s.is_empty() {
            return Err(invalid(
                "enter an image reference, e.g. ghcr.io/stoatchat/api:v0.15.1",
            ));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        if let Some(d) = digest {
            let Some(hexpart) = d.strip_prefix("sha256:") else {
                return Err(invalid("a digest looks like @sha256:<64 hex digits>"));
            };
            if hexpart.len() != 64
                || !hexpart
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(invalid("a sha256 digest has 64 lower-case hex digits"));
            }
        }
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
                && !tag.starts_with(['.', '-']);
            if !ok {
                return Err(invalid(
                    "an image tag has 1 to 128 letters, digits, '_', '.' or '-'",
                ));
            }
        }
        if name.is_empty() || name.starts_with('/') || name.ends_with('/') || name.contains("//") {
            return Err(invalid("the image name is empty or malformed"));
        }
        let mut parts = name.split('/').peekable();
        let mut first = true;
        while let Some(part) = parts.next() {
            let is_registry = first
                && parts.peek().is_some()
                && (part.contains('.') || part.contains(':') || part == "localhost");
            first = false;
            let ok = if is_registry {
                part.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
            } else {
                !part.is_empty()
                    && part.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'.' | b'_' | b'-')
                    })
            };
            if !ok {
                return Err(invalid(
                    "an image name uses lower-case letters, digits, '.', '_', '-' and '/'",
                ));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(invalid(
                "pin the image with a tag or a digest (e.g. :v0.15.1)",
            ));
        }
        Ok(Self(s.to_string()))
    }
}

/// A TCP/UDP port, 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u16")]
pub struct Port(u16);

impl Port {
    pub fn new(port: u16) -> Result<Self, InvalidValue> {
        if port == 0 {
            return Err(invalid("a port is between 1 and 65535"));
        }
        Ok(Self(port))
    }

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let n: i64 = input
            .trim()
            .parse()
            .map_err(|_| invalid("a port is a whole number between 1 and 65535"))?;
        Self::try_from(n)
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<i64> for Port {
    type Error = InvalidValue;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        u16::try_from(n)
            .map_err(|_| invalid("a port is between 1 and 65535"))
            .and_then(Self::new)
    }
}

impl From<Port> for u16 {
    fn from(p: Port) -> u16 {
        p.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An inclusive port range written `start-end` (one port: `start-start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PortRange {
    start: Port,
    end: Port,
}

impl PortRange {
    pub fn new(start: Port, end: Port) -> Result<Self, InvalidValue> {
        if end < start {
            return Err(invalid("the range ends before it starts"));
        }
        Ok(Self { start, end })
    }

    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let s = input.trim();
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| invalid("a port range is written start-end, e.g. 50000-50100"))?;
        let start = Port::parse(a).map_err(|e| invalid(format!("range start: {e}")))?;
        let end = Port::parse(b).map_err(|e| invalid(format!("range end: {e}")))?;
        Self::new(start, end)
    }

    pub fn start(self) -> Port {
        self.start
    }

    pub fn end(self) -> Port {
        self.end
    }

    /// Number of ports in the range.
    pub fn len(self) -> u32 {
        u32::from(self.end.0) - u32::from(self.start.0) + 1
    }

    /// Never true: a range holds at least one port.
    pub fn is_empty(self) -> bool {
        false
    }

    pub fn contains(self, port: Port) -> bool {
        self.start <= port && port <= self.end
    }
}

impl TryFrom<String> for PortRange {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PortRange> for String {
    fn from(r: PortRange) -> String {
        r.to_string()
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

macro_rules! coordinate {
    ($(#[$meta:meta])* $name:ident, $limit:expr, $what:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        pub struct $name(f64);

        impl $name {
            pub fn new(v: f64) -> Result<Self, InvalidValue> {
                if !v.is_finite() || v.abs() > $limit {
                    return Err(invalid(format!(
                        "{} is a number between -{} and {}",
                        $what, $limit, $limit
                    )));
                }
                // -0.0 and 0.0 must render the same.
                Ok(Self(if v == 0.0 { 0.0 } else { v }))
            }

            pub fn parse(input: &str) -> Result<Self, InvalidValue> {
                let v: f64 = input
                    .trim()
                    .parse()
                    .map_err(|_| invalid(format!("{} is a decimal number, e.g. 48.85", $what)))?;
                Self::new(v)
            }

            pub fn get(self) -> f64 {
                self.0
            }
        }

        impl TryFrom<f64> for $name {
            type Error = InvalidValue;
            fn try_from(v: f64) -> Result<Self, Self::Error> {
                Self::new(v)
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.0
            }
        }
    };
}

coordinate!(
    /// Latitude in degrees, -90..=90.
    Latitude,
    90.0,
    "latitude"
);
coordinate!(
    /// Longitude in degrees, -180..=180.
    Longitude,
    180.0,
    "longitude"
);

/// An IPv4 or IPv6 address (LiveKit's fixed node IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpAddress(std::net::IpAddr);

impl IpAddress {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        input
            .trim()
            .parse()
            .map(Self)
            .map_err(|_| invalid("enter an IP address, e.g. 192.168.1.10"))
    }

    pub fn get(self) -> std::net::IpAddr {
        self.0
    }
}

impl TryFrom<String> for IpAddress {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<IpAddress> for String {
    fn from(v: IpAddress) -> String {
        v.0.to_string()
    }
}

impl fmt::Display for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(
            DomainName::parse(" Chat.Example.COM. ").unwrap().as_str(),
            "chat.example.com"
        );
        for bad in [
            "",
            "https://x.com",
            "x.com/a",
            "a..b",
            "-a.com",
            "a_b.com",
            "1.2.3.4",
            "x.com:443",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad}");
        }
        assert!(DomainName::parse("stoat.local").unwrap().is_private());
        assert!(!DomainName::parse("chat.example.com").unwrap().is_private());
    }

    #[test]
    fn emails() {
        assert!(EmailAddress::parse("ops@example.com").is_ok());
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@",
            "a b@example.com",
            "ops@exa mple.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports_and_ranges() {
        assert_eq!(Port::parse("587").unwrap().get(), 587);
        for bad in ["0", "65536", "-1", "x", ""] {
            assert!(Port::parse(bad).is_err(), "{bad}");
        }
        let r = PortRange::parse("50000-50100").unwrap();
        assert_eq!(r.len(), 101);
        assert_eq!(r.to_string(), "50000-50100");
        assert!(PortRange::parse("50100-50000").is_err());
        assert!(PortRange::parse("50000").is_err());
    }

    #[test]
    fn coordinates() {
        assert!(Latitude::parse("48.85").is_ok());
        assert!(Latitude::parse("91").is_err());
        assert!(Longitude::parse("-180").is_ok());
        assert!(Longitude::parse("NaN").is_err());
        assert_eq!(
            Latitude::new(-0.0).unwrap().get().to_bits(),
            0.0f64.to_bits()
        );
    }

    #[test]
    fn node_names() {
        assert!(NodeName::parse("worldwide").is_ok());
        for bad in ["", "World", "a.b", "a/b", &"x".repeat(33), "a__b", "a_"] {
            assert!(NodeName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn images() {
        for good in [
            "ghcr.io/stoatchat/api:v0.15.1",
            "mongo:7.0",
            "localhost:5000/x/y:1",
            "quay.io/minio/minio@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(ImageRef::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "mongo",
            "Mongo:1",
            "x:",
            "x@sha256:12",
            "a//b:1",
            "x:-1",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        #[derive(Deserialize)]
        struct T {
            #[expect(dead_code, reason = "only deserialized")]
            d: DomainName,
        }
        assert!(toml::from_str::<T>("d = 'a..b'").is_err());
        assert!(toml::from_str::<T>("d = 'a.b'").is_ok());
    }
}
