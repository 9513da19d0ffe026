//! Environment files (`secrets.env`, `database.env`, ...): written once here,
//! read back by the Docker deploy and the Kubernetes render with the same
//! rules, and readable by docker-compose (v1's python-dotenv and v2's
//! compose-go agree on them).
//!
//! A value made only of URL-safe characters is written as it is; any other
//! value is single-quoted, which both compose parsers take literally (no
//! `$` interpolation, no `#` comment). A value holding a single quote or a
//! line break cannot be written so that every reader agrees: the model
//! refuses such an SMTP password, and generated secrets never hold one.

/// Characters a value may hold unquoted.
fn plain(value: &str) -> bool {
    value.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'@'
                    | b'%'
                    | b'+'
                    | b'='
                    | b','
                    | b'?'
                    | b'&'
            )
    })
}

/// Whether `value` can be written to an environment file every reader
/// takes the same way.
pub fn writable(value: &str) -> bool {
    !value.contains('\'') && !value.contains('\\') && !value.chars().any(char::is_control)
}

/// `KEY=value` lines, in the given order.
pub fn write(vars: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in vars {
        debug_assert!(writable(v), "{k} holds a value no dotenv reader agrees on");
        out.push_str(k);
        out.push('=');
        if plain(v) {
            out.push_str(v);
        } else {
            out.push('\'');
            out.push_str(v);
            out.push('\'');
        }
        out.push('\n');
    }
    out
}

/// Reads `KEY=value`, `KEY='value'`, `KEY="value"` lines (`#` comments,
/// optional `export `), as compose does for the files [`write`] writes and
/// for the simple files of a Stoat install.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let k = k.trim();
            if k.is_empty() {
                return None;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(v);
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let vars: Vec<(String, String)> = [
            ("A", "1"),
            (
                "URI",
                "mongodb://u:p%40x@database:27017/revolt?replicaSet=rs0&authSource=revolt",
            ),
            ("SPACES", "two words # not a comment"),
            ("DOLLAR", "pa$$word$HOME"),
            ("EMPTY", ""),
            ("QUOTE", "say \"hi\""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let text = write(&vars);
        assert!(text.contains("A=1\n"));
        assert!(text.contains("DOLLAR='pa$$word$HOME'\n"), "{text}");
        assert_eq!(parse(&text), vars);
    }

    #[test]
    fn values_no_reader_agrees_on_are_refused() {
        assert!(writable("ok $ # \" value"));
        for bad in ["it's", "back\\slash", "line\nbreak", "tab\t"] {
            assert!(!writable(bad), "{bad:?}");
        }
    }

    #[test]
    fn foreign_files_parse() {
        assert_eq!(
            parse(
                "# comment\nA=1\n\nexport B=two words\nC=\"quoted\"\nD=http://u:p@h:9000\nE=\nF='x'\nbad line\n=x\n"
            ),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "quoted".into()),
                ("D".into(), "http://u:p@h:9000".into()),
                ("E".into(), "".into()),
                ("F".into(), "x".into()),
            ]
        );
    }
}
