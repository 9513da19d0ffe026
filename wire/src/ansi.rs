//! Terminal escape sequences in log text, read by one parser for both ends:
//! the engine strips them for plain-text messages, the Logs page turns the
//! colours into styled runs. The parser is `anstyle-parse` (the VT500 state
//! machine `vte` is built on), so every kind of sequence — CSI with private
//! markers, OSC titles and hyperlinks, DCS strings, charset selections — is
//! consumed whole instead of leaking into the text.

use anstyle_parse::{DefaultCharAccumulator, Params, Parser, Perform};

/// A colour an SGR sequence sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// An xterm palette index: 0–7 (`30`–`37`), 8–15 (`90`–`97`), or any of
    /// the 256 (`38;5;n`).
    Indexed(u8),
    /// True colour (`38;2;r;g;b`).
    Rgb(u8, u8, u8),
}

/// The SGR attributes that apply to a run of text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    pub fg: Option<Colour>,
    pub bg: Option<Colour>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
}

impl Style {
    /// Applies one SGR (`CSI … m`) parameter list. Both spellings of the
    /// extended colours are understood: `38;5;n` and `38:5:n`, `38;2;r;g;b`,
    /// `38:2:r:g:b` and `38:2::r:g:b` (with the empty colour-space id).
    fn apply(&mut self, params: &Params) {
        if params.is_empty() {
            *self = Style::default();
            return;
        }
        let mut iter = params.iter();
        while let Some(param) = iter.next() {
            let Some(&code) = param.first() else {
                continue;
            };
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => {
                    self.bold = false;
                    self.dim = false;
                }
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = Some(Colour::Indexed((code - 30) as u8)),
                90..=97 => self.fg = Some(Colour::Indexed((code - 90 + 8) as u8)),
                39 => self.fg = None,
                40..=47 => self.bg = Some(Colour::Indexed((code - 40) as u8)),
                100..=107 => self.bg = Some(Colour::Indexed((code - 100 + 8) as u8)),
                49 => self.bg = None,
                38 | 48 => {
                    let colour = if param.len() > 1 {
                        extended(&param[1..])
                    } else {
                        extended_separate(&mut iter)
                    };
                    // A malformed colour leaves the current one as it was.
                    if let Some(colour) = colour {
                        if code == 38 {
                            self.fg = Some(colour);
                        } else {
                            self.bg = Some(colour);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// `5:n` or `2:r:g:b` / `2::r:g:b`, the sub-parameters after `38` or `48`.
fn extended(sub: &[u16]) -> Option<Colour> {
    let byte = |v: &u16| u8::try_from(*v).ok();
    match sub {
        [5, n] => Some(Colour::Indexed(byte(n)?)),
        [2, r, g, b] | [2, _, r, g, b] => Some(Colour::Rgb(byte(r)?, byte(g)?, byte(b)?)),
        _ => None,
    }
}

/// `;5;n` or `;2;r;g;b`: the colour's arguments as separate parameters,
/// taken from `iter` so they are not read as attributes of their own.
fn extended_separate<'a>(iter: &mut impl Iterator<Item = &'a [u16]>) -> Option<Colour> {
    let mut next = || iter.next().and_then(|p| p.first().copied());
    match next()? {
        5 => extended(&[5, next()?]),
        2 => extended(&[2, next()?, next()?, next()?]),
        _ => None,
    }
}

/// A run of text and the style that applies to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Span {
    pub text: String,
    pub style: Style,
}

/// What the parser's actions leave: printable text in runs of one style.
#[derive(Default)]
struct Runs {
    style: Style,
    spans: Vec<Span>,
}

impl Runs {
    fn push(&mut self, c: char) {
        match self.spans.last_mut() {
            Some(last) if last.style == self.style => last.text.push(c),
            _ => self.spans.push(Span {
                text: c.to_string(),
                style: self.style,
            }),
        }
    }
}

impl Perform for Runs {
    fn print(&mut self, c: char) {
        // C1 controls and DEL arrive here as characters.
        if !c.is_control() {
            self.push(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        // Of the C0 controls only the whitespace that text is made of stays;
        // BEL, backspace, carriage return and the rest are dropped.
        if byte == b'\t' || byte == b'\n' {
            self.push(char::from(byte));
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: u8) {
        // Private (`CSI ? … m`) and over-long sequences are not SGR.
        if action == b'm' && intermediates.is_empty() && !ignore {
            self.style.apply(params);
        }
    }
}

/// A streaming reader: bytes may arrive in chunks that split a sequence or a
/// UTF-8 character; both the parser's state and the current style carry
/// over from one [`Decoder::feed`] to the next.
#[derive(Default)]
pub struct Decoder {
    parser: Parser<DefaultCharAccumulator>,
    runs: Runs,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.parser.advance(&mut self.runs, byte);
        }
    }

    /// The text read so far, in runs of one style.
    pub fn take(&mut self) -> Vec<Span> {
        std::mem::take(&mut self.runs.spans)
    }
}

/// `text` split into styled runs; escape sequences and control characters
/// other than tab and newline are gone.
pub fn spans(text: &str) -> Vec<Span> {
    let mut decoder = Decoder::new();
    decoder.feed(text.as_bytes());
    decoder.take()
}

/// `text` without escape sequences (colours, cursor moves, titles, links),
/// for places that show plain text: error messages, stored summaries.
pub fn strip(text: &str) -> String {
    spans(text).into_iter().map(|s| s.text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fg(text: &str) -> Vec<(String, Option<Colour>)> {
        spans(text)
            .into_iter()
            .map(|s| (s.text, s.style.fg))
            .collect()
    }

    #[test]
    fn osc_title_and_hyperlink_are_consumed() {
        assert_eq!(strip("\x1b]0;title\x07plain"), "plain");
        assert_eq!(strip("a\x1b]2;window title\x1b\\b"), "ab");
        assert_eq!(
            strip("see \x1b]8;;https://example.org/a?b=c\x1b\\the docs\x1b]8;;\x1b\\."),
            "see the docs."
        );
        assert_eq!(strip("\x1b]8;id=1;file:///etc\x07here\x1b]8;;\x07"), "here");
    }

    #[test]
    fn private_modes_and_other_escapes_are_consumed() {
        assert_eq!(strip("\x1b[?25lhidden cursor\x1b[?25h"), "hidden cursor");
        assert_eq!(strip("\x1b[?1049h\x1b[Hscreen"), "screen");
        // `tput sgr0` on xterm: a charset selection before the reset.
        assert_eq!(strip("\x1b[1mbold\x1b(B\x1b[m plain"), "bold plain");
        assert_eq!(strip("\x1bP1$r0m\x1b\\dcs gone"), "dcs gone");
        assert_eq!(strip("a\x1b7b\x1b8c"), "abc");
        // A private sequence ending in `m` is not SGR.
        assert_eq!(fg("\x1b[?31mx"), vec![("x".into(), None)]);
    }

    #[test]
    fn colours_of_256_and_true_colour_in_both_spellings() {
        assert_eq!(
            fg("\x1b[38;5;208ma\x1b[38:5:33mb\x1b[38;2;255;128;0mc\x1b[38:2::1:2:3md\x1b[38:2:4:5:6me"),
            vec![
                ("a".into(), Some(Colour::Indexed(208))),
                ("b".into(), Some(Colour::Indexed(33))),
                ("c".into(), Some(Colour::Rgb(255, 128, 0))),
                ("d".into(), Some(Colour::Rgb(1, 2, 3))),
                ("e".into(), Some(Colour::Rgb(4, 5, 6))),
            ]
        );
        // The colour's arguments are not attributes: `38;5;1` is not bold.
        let s = spans("\x1b[38;5;1;4mx");
        assert_eq!(s[0].style.fg, Some(Colour::Indexed(1)));
        assert!(!s[0].style.bold && s[0].style.underline);
        let s = spans("\x1b[48;2;10;20;30;1mx");
        assert_eq!(s[0].style.bg, Some(Colour::Rgb(10, 20, 30)));
        assert!(s[0].style.bold && !s[0].style.dim);
        // Colon forms leave nothing behind in the text.
        assert_eq!(strip("\x1b[38:5:208mhot\x1b[39m ok"), "hot ok");
    }

    #[test]
    fn basic_attributes_and_resets() {
        let s = spans("\x1b[1;31mERROR\x1b[0m ok \x1b[94;42;3mx\x1b[22;23;39;49my");
        assert_eq!(s[0].text, "ERROR");
        assert_eq!(s[0].style.fg, Some(Colour::Indexed(1)));
        assert!(s[0].style.bold);
        assert_eq!(
            s[1],
            Span {
                text: " ok ".into(),
                style: Style::default()
            }
        );
        assert_eq!(s[2].style.fg, Some(Colour::Indexed(12)));
        assert_eq!(s[2].style.bg, Some(Colour::Indexed(2)));
        assert!(s[2].style.italic);
        assert_eq!(
            s[3],
            Span {
                text: "y".into(),
                style: Style::default()
            }
        );
        assert_eq!(spans("\x1b[31ma\x1b[mb")[1].style, Style::default());
    }

    #[test]
    fn a_sequence_split_across_chunks_is_read_whole() {
        let mut d = Decoder::new();
        d.feed(b"one \x1b[38;5;2");
        d.feed(b"08mtwo\x1b]8;;https://exa");
        d.feed(b"mple.org\x1b");
        d.feed(b"\\ three \xe2\x9c");
        d.feed(b"\x93");
        let s = d.take();
        let text: String = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "one two three ✓");
        assert_eq!(s[1].style.fg, Some(Colour::Indexed(208)));
        // The style carries over into what comes after a `take`.
        d.feed(b"!");
        assert_eq!(d.take()[0].style.fg, Some(Colour::Indexed(208)));
    }

    #[test]
    fn controls_are_dropped_but_tabs_and_text_stay() {
        assert_eq!(
            strip("a\x07b\x08c\rd\te\u{85}f\x7fg ✓ <b>"),
            "abcd\tefg ✓ <b>"
        );
        assert_eq!(strip("no escapes"), "no escapes");
    }
}
