//! ANSI colour codes in log lines, turned into styled text segments. The
//! text stays text: it is never parsed as HTML.

/// A run of text with the SGR state that applies to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Segment {
    pub text: String,
    /// CSS classes: `ansi-fg-1`, `ansi-bold`, …
    pub classes: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

impl Style {
    fn classes(&self) -> String {
        let mut c = Vec::new();
        if let Some(f) = self.fg {
            c.push(format!("ansi-fg-{f}"));
        }
        if let Some(b) = self.bg {
            c.push(format!("ansi-bg-{b}"));
        }
        for (on, name) in [
            (self.bold, "ansi-bold"),
            (self.dim, "ansi-dim"),
            (self.italic, "ansi-italic"),
            (self.underline, "ansi-underline"),
        ] {
            if on {
                c.push(name.to_owned());
            }
        }
        c.join(" ")
    }

    fn apply(&mut self, params: &str) {
        let codes: Vec<u16> = if params.is_empty() {
            vec![0]
        } else {
            params.split(';').map(|p| p.parse().unwrap_or(0)).collect()
        };
        let mut i = 0;
        while i < codes.len() {
            match codes[i] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => {
                    self.bold = false;
                    self.dim = false
                }
                23 => self.italic = false,
                24 => self.underline = false,
                c @ 30..=37 => self.fg = Some((c - 30) as u8),
                c @ 90..=97 => self.fg = Some((c - 90 + 8) as u8),
                39 => self.fg = None,
                c @ 40..=47 => self.bg = Some((c - 40) as u8),
                c @ 100..=107 => self.bg = Some((c - 100 + 8) as u8),
                49 => self.bg = None,
                // 256-colour / true-colour: skip their arguments.
                38 | 48 => {
                    i += match codes.get(i + 1) {
                        Some(5) => 2,
                        Some(2) => 4,
                        _ => 0,
                    };
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// Splits `line` at its escape sequences; other control characters are
/// dropped.
pub fn segments(line: &str) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut style = Style::default();
    let mut text = String::new();
    let mut chars = line.chars().peekable();
    let flush = |text: &mut String, style: &Style, out: &mut Vec<Segment>| {
        if !text.is_empty() {
            out.push(Segment {
                text: std::mem::take(text),
                classes: style.classes(),
            });
        }
    };
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                let mut params = String::new();
                let mut end = None;
                for p in chars.by_ref() {
                    if p.is_ascii_digit() || p == ';' {
                        params.push(p);
                    } else {
                        end = Some(p);
                        break;
                    }
                }
                if end == Some('m') {
                    flush(&mut text, &style, &mut out);
                    style.apply(&params);
                }
            }
            continue;
        }
        if c.is_control() && c != '\t' {
            continue;
        }
        text.push(c);
    }
    flush(&mut text, &style, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_classes_and_markup_stays_text() {
        let s = segments("\u{1b}[1;31mERROR\u{1b}[0m <script>alert(1)</script>");
        assert_eq!(s[0].text, "ERROR");
        assert_eq!(s[0].classes, "ansi-fg-1 ansi-bold");
        assert_eq!(s[1].text, " <script>alert(1)</script>");
        assert_eq!(s[1].classes, "");
    }

    #[test]
    fn unknown_sequences_and_controls_are_dropped() {
        let s = segments("a\u{1b}[2Kb\u{7}c\u{1b}[38;5;208md");
        let text: String = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "abcd");
        assert!(s.last().unwrap().classes.is_empty());
    }
}
