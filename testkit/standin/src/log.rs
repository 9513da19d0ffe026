//! Log lines in the shape of Stoat's tracing output:
//! `2026-01-31T12:34:56.789Z  INFO standin::api: message`.
//! Info goes to stdout, warnings and errors to stderr (Docker keeps both).

use std::io::Write;
use std::sync::OnceLock;

static ROLE: OnceLock<String> = OnceLock::new();

pub fn set_role(role: &str) {
    let _ = ROLE.set(role.to_string());
}

pub fn role() -> &'static str {
    ROLE.get().map(String::as_str).unwrap_or("standin")
}

/// The level as tracing-subscriber writes it by default: padded to five
/// and coloured (green, yellow, red, blue), plain when `NO_COLOR` is set.
fn level_text(level: &str, colour: bool) -> String {
    let code = match level {
        "ERROR" => "31",
        "WARN" => "33",
        "DEBUG" => "34",
        _ => "32",
    };
    if colour {
        format!("\x1b[{code}m{level:>5}\x1b[0m")
    } else {
        format!("{level:>5}")
    }
}

fn colour() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("NO_COLOR").is_none())
}

pub fn emit(level: &str, msg: &str) {
    let line = format!(
        "{}  {} standin::{}: {msg}\n",
        crate::util::timestamp(),
        level_text(level, colour()),
        role()
    );
    if level == "INFO" || level == "DEBUG" {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    } else {
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::emit("INFO", &format!($($t)*)) };
}

#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::emit("WARN", &format!($($t)*)) };
}

#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::emit("ERROR", &format!($($t)*)) };
}

/// Logs an error the way a Rust service dies on a bad config (a panic
/// message on stderr) and exits non-zero.
pub fn fatal(msg: &str) -> ! {
    emit("ERROR", msg);
    let _ = writeln!(
        std::io::stderr(),
        "thread 'main' panicked at standin/{}:\n{msg}",
        role()
    );
    std::process::exit(101)
}

#[cfg(test)]
mod tests {
    use super::level_text;

    #[test]
    fn levels_are_coloured_like_tracing_unless_no_color() {
        assert_eq!(level_text("INFO", true), "\x1b[32m INFO\x1b[0m");
        assert_eq!(level_text("ERROR", true), "\x1b[31mERROR\x1b[0m");
        assert_eq!(level_text("WARN", false), " WARN");
    }
}
