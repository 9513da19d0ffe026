//! Just enough YAML for livekit.yml: block maps and lists by indentation,
//! plain and quoted scalars, `[a, b]` flow lists, comments.

#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Scalar(String),
    List(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    pub fn get(&self, path: &str) -> Option<&Yaml> {
        let mut cur = self;
        for part in path.split('.') {
            match cur {
                Yaml::Map(entries) => cur = &entries.iter().find(|(k, _)| k == part)?.1,
                _ => return None,
            }
        }
        Some(cur)
    }

    pub fn str(&self, path: &str) -> Option<&str> {
        match self.get(path)? {
            Yaml::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, path: &str) -> Option<i64> {
        self.str(path)?.parse().ok()
    }

    pub fn bool(&self, path: &str) -> Option<bool> {
        match self.str(path)? {
            "true" | "True" | "yes" => Some(true),
            "false" | "False" | "no" => Some(false),
            _ => None,
        }
    }

    pub fn map(&self, path: &str) -> Option<&[(String, Yaml)]> {
        match self.get(path)? {
            Yaml::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn list(&self, path: &str) -> Option<&[Yaml]> {
        match self.get(path)? {
            Yaml::List(l) => Some(l),
            _ => None,
        }
    }
}

struct Line {
    indent: usize,
    text: String,
    number: usize,
}

fn strip_comment(s: &str) -> &str {
    let mut quote = None;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), c) if c == q => quote = None,
            (None, b'#') if i == 0 || bytes[i - 1] == b' ' => return &s[..i],
            _ => {}
        }
    }
    s
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        return s[1..s.len() - 1].replace("''", "'");
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        return s[1..s.len() - 1]
            .replace("\\\"", "\"")
            .replace("\\n", "\n")
            .replace("\\\\", "\\");
    }
    s.to_string()
}

fn scalar(s: &str) -> Yaml {
    let s = s.trim();
    if s.is_empty() || s == "~" || s == "null" {
        return Yaml::Null;
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return Yaml::List(
            inner
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(|x| Yaml::Scalar(unquote(x)))
                .collect(),
        );
    }
    if s == "{}" {
        return Yaml::Map(Vec::new());
    }
    Yaml::Scalar(unquote(s))
}

/// Splits `key: value` (key possibly quoted); None when not a mapping line.
fn split_key(text: &str) -> Option<(String, &str)> {
    let (key_end, rest_start) = if text.starts_with('"') || text.starts_with('\'') {
        let q = text.as_bytes()[0] as char;
        let close = text[1..].find(q)? + 1;
        let after = &text[close + 1..];
        if !after.starts_with(':') {
            return None;
        }
        (close + 1, close + 2)
    } else {
        let pos = text
            .match_indices(':')
            .find(|(i, _)| text[i + 1..].is_empty() || text[i + 1..].starts_with(' '))?
            .0;
        (pos, pos + 1)
    };
    Some((unquote(&text[..key_end]), &text[rest_start..]))
}

pub fn parse(text: &str) -> Result<Yaml, String> {
    let mut lines: Vec<Line> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        if raw.trim_start().starts_with('#') || raw.trim() == "---" {
            continue;
        }
        let body = strip_comment(raw).trim_end();
        if body.trim().is_empty() {
            continue;
        }
        if body.contains('\t') && body.trim_start().len() != body.len() && body.starts_with('\t') {
            return Err(format!(
                "line {}: tabs are not allowed for indentation",
                n + 1
            ));
        }
        let indent = body.len() - body.trim_start().len();
        lines.push(Line {
            indent,
            text: body.trim_start().to_string(),
            number: n + 1,
        });
    }
    if lines.is_empty() {
        return Ok(Yaml::Null);
    }
    let mut idx = 0;
    let indent = lines[0].indent;
    let doc = block(&mut lines, &mut idx, indent)?;
    if idx < lines.len() {
        return Err(format!(
            "line {}: unexpected indentation",
            lines[idx].number
        ));
    }
    Ok(doc)
}

fn block(lines: &mut Vec<Line>, idx: &mut usize, indent: usize) -> Result<Yaml, String> {
    if lines[*idx].text.starts_with("- ") || lines[*idx].text == "-" {
        let mut items = Vec::new();
        while *idx < lines.len()
            && lines[*idx].indent == indent
            && (lines[*idx].text.starts_with("- ") || lines[*idx].text == "-")
        {
            let rest = lines[*idx].text[1..].trim_start().to_string();
            if rest.is_empty() {
                *idx += 1;
                if *idx < lines.len() && lines[*idx].indent > indent {
                    let child = lines[*idx].indent;
                    items.push(block(lines, idx, child)?);
                } else {
                    items.push(Yaml::Null);
                }
            } else if split_key(&rest).is_some() {
                // `- key: value` starts a map item: re-read this line as the
                // first line of a block two columns deeper.
                lines[*idx].text = rest;
                lines[*idx].indent = indent + 2;
                items.push(block(lines, idx, indent + 2)?);
            } else {
                items.push(scalar(&rest));
                *idx += 1;
            }
        }
        return Ok(Yaml::List(items));
    }
    let mut entries = Vec::new();
    while *idx < lines.len() && lines[*idx].indent == indent {
        let line = &lines[*idx];
        let number = line.number;
        let Some((key, value)) = split_key(&line.text) else {
            return Err(format!(
                "line {number}: expected `key: value`, got `{}`",
                line.text
            ));
        };
        let value = value.trim().to_string();
        *idx += 1;
        let v = if !value.is_empty() {
            scalar(&value)
        } else if *idx < lines.len()
            && (lines[*idx].indent > indent
                || (lines[*idx].indent == indent && lines[*idx].text.starts_with('-')))
        {
            let child = lines[*idx].indent;
            block(lines, idx, child)?
        } else {
            Yaml::Null
        };
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(format!("line {number}: duplicate key `{key}`"));
        }
        entries.push((key, v));
    }
    if *idx < lines.len() && lines[*idx].indent > indent {
        return Err(format!(
            "line {}: unexpected indentation",
            lines[*idx].number
        ));
    }
    Ok(Yaml::Map(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn livekit_yml() {
        let doc = parse(
            "# Rendered by Burrow; holds secrets.\nport: 7880\nrtc:\n  tcp_port: 7881\n  port_range_start: 50000\n  port_range_end: 50100\n  use_external_ip: true\nredis:\n  address: redis:6379\n  password: abc\nturn:\n  enabled: false\nkeys:\n  '123456789012': secretsecret\n  06cd36f4e8b7: other\nwebhook:\n  api_key: 06cd36f4e8b7\n  urls:\n  - http://voice-ingress:8500/worldwide\n",
        )
        .unwrap();
        assert_eq!(doc.int("port"), Some(7880));
        assert_eq!(doc.int("rtc.tcp_port"), Some(7881));
        assert_eq!(doc.bool("rtc.use_external_ip"), Some(true));
        assert_eq!(doc.str("redis.address"), Some("redis:6379"));
        let keys = doc.map("keys").unwrap();
        assert_eq!(keys[0].0, "123456789012");
        assert_eq!(keys[1].0, "06cd36f4e8b7");
        assert_eq!(
            doc.list("webhook.urls").unwrap(),
            &[Yaml::Scalar("http://voice-ingress:8500/worldwide".into())]
        );
    }

    #[test]
    fn list_of_maps_and_errors() {
        let doc = parse("a:\n  - x: 1\n    y: 2\n  - z\n").unwrap();
        let l = doc.list("a").unwrap();
        assert_eq!(l[0].int("y"), Some(2));
        assert_eq!(l[1], Yaml::Scalar("z".into()));
        assert!(parse("a: 1\n   b: 2\n").is_err());
    }
}
