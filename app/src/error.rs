//! The error every server function returns. It crosses the wire as JSON, so
//! the page can put a message next to the field that caused it; the HTTP
//! status follows the variant (never a 500 for a user's mistake).

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// A value the user typed was refused. `kept` holds the (non-secret)
    /// values to put back into the form so nothing typed is lost.
    #[error("{message}")]
    Invalid {
        field: String,
        message: String,
        kept: Vec<(String, String)>,
    },
    #[error("Wrong username or password.")]
    BadCredentials { username: String },
    #[error("Too many failed sign-ins. Wait {} before trying again.", wait_text(*retry_after_secs))]
    TooManyAttempts { retry_after_secs: i64 },
    #[error("Your session has ended. Please sign in again.")]
    Unauthorized,
    #[error("Setup is already complete.")]
    SetupClosed,
    #[error("The request could not be read: {0}")]
    BadRequest(String),
    #[error("Something went wrong on the server. The details are in Burrow's log.")]
    Internal,
    #[error("Could not reach Burrow ({0}). Check that it is running.")]
    Network(String),
    /// Several values of one form were refused, each with its message;
    /// `kept` refills the form (never with a password).
    #[error("Some values need a change; see the messages beside them.")]
    Fields {
        errors: Vec<(String, String)>,
        kept: Vec<(String, String)>,
    },
    /// The request clashes with work in progress (a running deployment).
    #[error("{0}")]
    Conflict(String),
    /// What the request names does not exist (a revision number).
    #[error("{0}")]
    NotFound(String),
    /// Something Burrow depends on (the Docker daemon) does not answer; the
    /// message says which and what to do.
    #[error("{0}")]
    Unavailable(String),
    /// The revision a page needs is stored but cannot be used any more;
    /// the page links to where it can be fixed.
    #[error("{message}")]
    Unusable { revision: i64, message: String },
}

fn wait_text(secs: i64) -> String {
    let minutes = (secs + 59) / 60;
    if minutes <= 1 {
        "about a minute".to_owned()
    } else {
        format!("about {minutes} minutes")
    }
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.to_owned(),
            message: message.into(),
            kept: Vec::new(),
        }
    }

    /// Keeps a typed value (never a password) for the form to show again.
    pub fn keeping(mut self, name: &str, value: &str) -> Self {
        if let AppError::Invalid { kept, .. } = &mut self {
            kept.push((name.to_owned(), value.chars().take(256).collect()));
        }
        self
    }

    /// The message for `field`, if this error is about that field.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid { field, message, .. } if field == name => Some(message.clone()),
            AppError::Fields { errors, .. } => errors
                .iter()
                .find(|(f, _)| f == name)
                .map(|(_, m)| m.clone()),
            _ => None,
        }
    }

    /// A message that belongs to the form as a whole rather than one field.
    pub fn form_message(&self) -> Option<String> {
        match self {
            AppError::Invalid { .. } => None,
            other => Some(other.to_string()),
        }
    }

    /// A value typed before the error, to refill an input.
    pub fn kept(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid { kept, .. } | AppError::Fields { kept, .. } => {
                kept.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
            }
            AppError::BadCredentials { username } if name == "username" => Some(username.clone()),
            _ => None,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } | AppError::Fields { .. } => 422,
            AppError::BadCredentials { .. } | AppError::Unauthorized => 401,
            AppError::TooManyAttempts { .. } => 429,
            AppError::SetupClosed | AppError::NotFound(_) => 404,
            AppError::BadRequest(_) => 400,
            AppError::Internal | AppError::Network(_) => 500,
            AppError::Conflict(_) | AppError::Unusable { .. } => 409,
            AppError::Unavailable(_) => 503,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        // Deserializer messages can echo input; keep only the first line, short.
        let short = |m: String| {
            m.lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(120)
                .collect()
        };
        #[cfg(feature = "ssr")]
        let decoding_a_request = crate::api::handling_request();
        #[cfg(not(feature = "ssr"))]
        let decoding_a_request = false;
        let err = match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                AppError::BadRequest(short(m))
            }
            // On the server this is a request body that could not be read
            // (e.g. not UTF-8); in the browser, a response it could not read.
            ServerFnErrorErr::Deserialization(m) if decoding_a_request => {
                AppError::BadRequest(short(m))
            }
            ServerFnErrorErr::Request(m) => AppError::Network(m),
            _ => AppError::Internal,
        };
        #[cfg(feature = "ssr")]
        crate::api::set_status_for(&err);
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(
            AppError::TooManyAttempts {
                retry_after_secs: 840
            }
            .to_string(),
            "Too many failed sign-ins. Wait about 14 minutes before trying again."
        );
        let e = AppError::invalid("username", "Enter a username.").keeping("username", "x");
        assert_eq!(
            e.for_field("username").as_deref(),
            Some("Enter a username.")
        );
        assert_eq!(e.for_field("password"), None);
        assert_eq!(e.kept("username").as_deref(), Some("x"));
        assert_eq!(e.form_message(), None);
    }
}
