//! ANSI colour codes in log lines, turned into styled text segments. The
//! text stays text: it is never parsed as HTML. The escapes are read by
//! [`wire::ansi`], the parser the engine strips them with too.

use wire::ansi::{Colour, Style};

/// A run of text with the SGR state that applies to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Segment {
    pub text: String,
    /// CSS classes: `ansi-fg-1`, `ansi-bold`, …
    pub classes: String,
}

/// The stylesheet has the 16 palette colours; a colour beyond them (256-colour
/// index 16–255, true colour) shows in the default colour.
fn palette(colour: Option<Colour>) -> Option<u8> {
    match colour? {
        Colour::Indexed(n) if n < 16 => Some(n),
        _ => None,
    }
}

fn classes(style: &Style) -> String {
    let mut c = Vec::new();
    if let Some(f) = palette(style.fg) {
        c.push(format!("ansi-fg-{f}"));
    }
    if let Some(b) = palette(style.bg) {
        c.push(format!("ansi-bg-{b}"));
    }
    for (on, name) in [
        (style.bold, "ansi-bold"),
        (style.dim, "ansi-dim"),
        (style.italic, "ansi-italic"),
        (style.underline, "ansi-underline"),
    ] {
        if on {
            c.push(name.to_owned());
        }
    }
    c.join(" ")
}

/// Splits `line` at its escape sequences; control characters other than tab
/// and newline are dropped.
pub fn segments(line: &str) -> Vec<Segment> {
    wire::ansi::spans(line)
        .into_iter()
        .map(|s| Segment {
            classes: classes(&s.style),
            text: s.text,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &[Segment]) -> String {
        s.iter().map(|s| s.text.as_str()).collect()
    }

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

    #[test]
    fn osc_titles_and_hyperlinks_do_not_leak() {
        assert_eq!(text(&segments("\u{1b}]0;api@stoat\u{7}ready")), "ready");
        let s = segments("docs: \u{1b}]8;;https://stoat.chat/\u{1b}\\\u{1b}[4mstoat.chat\u{1b}[24m\u{1b}]8;;\u{1b}\\ ok");
        assert_eq!(text(&s), "docs: stoat.chat ok");
        assert_eq!(s[1].text, "stoat.chat");
        assert_eq!(s[1].classes, "ansi-underline");
    }

    #[test]
    fn private_modes_and_charset_selections_do_not_leak() {
        let s = segments("\u{1b}[?25l\u{1b}[32mdone\u{1b}(B\u{1b}[m\u{1b}[?25h");
        assert_eq!(text(&s), "done");
        assert_eq!(s[0].classes, "ansi-fg-2");
    }

    #[test]
    fn extended_colours_replace_the_colour_and_leave_no_text() {
        // 256-colour indexes below 16 are the palette colours.
        let s = segments("\u{1b}[38;5;1mred\u{1b}[48:5:12mblue");
        assert_eq!(s[0].classes, "ansi-fg-1");
        assert_eq!(s[1].classes, "ansi-fg-1 ansi-bg-12");
        // True colour and the colon spelling: no palette class, the old
        // colour is gone, nothing is left in the text.
        let s = segments("\u{1b}[31mred\u{1b}[38;2;0;255;0mgreen\u{1b}[38:2::0:0:255;1mblue");
        assert_eq!(text(&s), "redgreenblue");
        assert_eq!(s[0].classes, "ansi-fg-1");
        assert_eq!(s[1].classes, "");
        assert_eq!(s[2].classes, "ansi-bold");
    }
}
