//! Log lines of a stack's services, as the Logs page receives them (first
//! load and `/live/logs` batches).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    /// `stdout` or `stderr` (also the CSS class of its line).
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub service: String,
    pub stream: LogStream,
    /// RFC 3339 with nanoseconds, as the daemon recorded it.
    pub timestamp: Option<String>,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_keeps_its_shape_on_the_wire() {
        let line = LogLine {
            service: "api".into(),
            stream: LogStream::Stderr,
            timestamp: None,
            text: "boom".into(),
        };
        let json = serde_json::to_string(&line).unwrap();
        assert_eq!(
            json,
            r#"{"service":"api","stream":"stderr","timestamp":null,"text":"boom"}"#
        );
        assert_eq!(serde_json::from_str::<LogLine>(&json).unwrap(), line);
    }
}
