//! `sh -c` / `bash -c` for the stand-in images: the stack runs MongoDB's and
//! the bucket job's start-up through a shell, and Docker health checks run
//! `bash -c "mongosh ..."`. This is a small POSIX-shell subset, enough for
//! those scripts: words with '' and "" quoting, `$VAR`/`${VAR}`/`$?`,
//! `;` `&&` `||` newlines, `until`/`while ... do ... done`,
//! `if ... then ... else ... fi`, `exec`, builtins (echo, printf, sleep,
//! true, false, exit, export, install, test). Other commands are looked up
//! on PATH: names linked to this binary run in-process (multi-call), other
//! programs are spawned. Pipes, background jobs and command substitution
//! are refused with an error.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    Var(String),
}

type Word = Vec<Seg>;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word { segs: Word, quoted: bool },
    Op(&'static str),
    Redir(String),
}

#[allow(unused_assignments)]
fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut segs: Word = Vec::new();
    let mut lit = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut i = 0;

    fn flush_lit(lit: &mut String, segs: &mut Word) {
        if !lit.is_empty() {
            segs.push(Seg::Lit(std::mem::take(lit)));
        }
    }

    // Reads `$NAME`, `${NAME}` or `$?` at chars[i] == '$'; returns the new index.
    fn read_var(
        chars: &[char],
        i: usize,
        lit: &mut String,
        segs: &mut Word,
    ) -> Result<usize, String> {
        let next = chars.get(i + 1).copied();
        match next {
            Some('{') => {
                let end = chars[i + 2..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or("unterminated ${")?;
                let name: String = chars[i + 2..i + 2 + end].iter().collect();
                if name.contains(':') || name.contains('#') || name.contains('%') {
                    return Err(format!(
                        "parameter expansion `${{{name}}}` is not supported"
                    ));
                }
                flush_lit(lit, segs);
                segs.push(Seg::Var(name));
                Ok(i + 3 + end)
            }
            Some('(') => Err("command substitution $(...) is not supported".into()),
            Some('?') => {
                flush_lit(lit, segs);
                segs.push(Seg::Var("?".into()));
                Ok(i + 2)
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j] == '_' || chars[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                flush_lit(lit, segs);
                segs.push(Seg::Var(chars[i + 1..j].iter().collect()));
                Ok(j)
            }
            _ => {
                lit.push('$');
                Ok(i + 1)
            }
        }
    }

    macro_rules! end_word {
        () => {
            if in_word {
                flush_lit(&mut lit, &mut segs);
                toks.push(Tok::Word {
                    segs: std::mem::take(&mut segs),
                    quoted,
                });
                in_word = false;
                quoted = false;
            }
        };
    }

    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                end_word!();
                i += 1;
            }
            '\n' => {
                end_word!();
                toks.push(Tok::Op("\n"));
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ';' => {
                end_word!();
                if chars.get(i + 1) == Some(&';') {
                    return Err("`;;` (case) is not supported".into());
                }
                toks.push(Tok::Op(";"));
                i += 1;
            }
            '&' => {
                end_word!();
                if chars.get(i + 1) == Some(&'&') {
                    toks.push(Tok::Op("&&"));
                    i += 2;
                } else {
                    return Err("background jobs (`&`) are not supported".into());
                }
            }
            '|' => {
                end_word!();
                if chars.get(i + 1) == Some(&'|') {
                    toks.push(Tok::Op("||"));
                    i += 2;
                } else {
                    return Err("pipes (`|`) are not supported".into());
                }
            }
            '(' | ')' => return Err("subshells `( )` are not supported".into()),
            '`' => return Err("command substitution `...` is not supported".into()),
            '>' | '<' => {
                // A redirection; a word of digits right before it is the fd.
                let mut op = String::new();
                if in_word && segs.is_empty() && !quoted && lit.chars().all(|d| d.is_ascii_digit())
                {
                    op = std::mem::take(&mut lit);
                    in_word = false;
                } else {
                    end_word!();
                }
                while i < chars.len() && matches!(chars[i], '>' | '<' | '&') {
                    op.push(chars[i]);
                    i += 1;
                }
                while i < chars.len() && chars[i] == ' ' {
                    i += 1;
                }
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '\t' | '\n' | ';' | '&' | '|') {
                    i += 1;
                }
                op.extend(chars[start..i].iter());
                toks.push(Tok::Redir(op));
            }
            '\'' => {
                in_word = true;
                quoted = true;
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or("unterminated single quote")?;
                lit.extend(chars[i + 1..i + 1 + end].iter());
                i += end + 2;
            }
            '"' => {
                in_word = true;
                quoted = true;
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err("unterminated double quote".into());
                    };
                    match c {
                        '"' => {
                            i += 1;
                            break;
                        }
                        '\\' if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`' | '\n')) => {
                            if chars[i + 1] != '\n' {
                                lit.push(chars[i + 1]);
                            }
                            i += 2;
                        }
                        '$' => i = read_var(&chars, i, &mut lit, &mut segs)?,
                        '`' => return Err("command substitution `...` is not supported".into()),
                        c => {
                            lit.push(c);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(&n) = chars.get(i + 1) {
                    if n != '\n' {
                        lit.push(n);
                        quoted = true;
                    }
                }
                i += 2;
            }
            '$' => {
                in_word = true;
                i = read_var(&chars, i, &mut lit, &mut segs)?;
            }
            c => {
                in_word = true;
                lit.push(c);
                i += 1;
            }
        }
    }
    end_word!();
    Ok(toks)
}

#[derive(Debug, Clone)]
enum Cmd {
    Simple {
        words: Vec<Word>,
        redirs: Vec<String>,
    },
    Loop {
        until: bool,
        cond: List,
        body: List,
    },
    If {
        branches: Vec<(List, List)>,
        otherwise: Option<List>,
    },
}

/// A command followed by `&&`/`||` continuations.
#[derive(Debug, Clone)]
struct AndOr {
    first: Cmd,
    rest: Vec<(&'static str, Cmd)>,
}

type List = Vec<AndOr>;

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

const RESERVED: [&str; 9] = [
    "until", "while", "do", "done", "if", "then", "elif", "else", "fi",
];

impl Parser {
    fn keyword(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some(Tok::Word {
                segs,
                quoted: false,
            }) if segs.len() == 1 => match &segs[0] {
                Seg::Lit(s) if RESERVED.contains(&s.as_str()) => Some(s.as_str()),
                _ => None,
            },
            _ => None,
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.toks.get(self.pos), Some(Tok::Op(";" | "\n"))) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, kw: &str) -> Result<(), String> {
        self.skip_separators();
        if self.keyword() == Some(kw) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("syntax error: expected `{kw}`"))
        }
    }

    /// Commands until a closing keyword (or the end).
    fn list(&mut self, closers: &[&str]) -> Result<List, String> {
        let mut list = Vec::new();
        loop {
            self.skip_separators();
            if self.pos >= self.toks.len() {
                break;
            }
            if let Some(kw) = self.keyword() {
                if closers.contains(&kw) {
                    break;
                }
            }
            let first = self.command()?;
            let mut rest = Vec::new();
            while let Some(Tok::Op(op @ ("&&" | "||"))) = self.toks.get(self.pos) {
                let op = *op;
                self.pos += 1;
                while matches!(self.toks.get(self.pos), Some(Tok::Op("\n"))) {
                    self.pos += 1;
                }
                rest.push((op, self.command()?));
            }
            list.push(AndOr { first, rest });
        }
        Ok(list)
    }

    fn command(&mut self) -> Result<Cmd, String> {
        match self.keyword() {
            Some(kw @ ("until" | "while")) => {
                let until = kw == "until";
                self.pos += 1;
                let cond = self.list(&["do"])?;
                self.expect("do")?;
                let body = self.list(&["done"])?;
                self.expect("done")?;
                Ok(Cmd::Loop { until, cond, body })
            }
            Some("if") => {
                self.pos += 1;
                let mut branches = Vec::new();
                let cond = self.list(&["then"])?;
                self.expect("then")?;
                let body = self.list(&["elif", "else", "fi"])?;
                branches.push((cond, body));
                let mut otherwise = None;
                loop {
                    self.skip_separators();
                    match self.keyword() {
                        Some("elif") => {
                            self.pos += 1;
                            let c = self.list(&["then"])?;
                            self.expect("then")?;
                            let b = self.list(&["elif", "else", "fi"])?;
                            branches.push((c, b));
                        }
                        Some("else") => {
                            self.pos += 1;
                            otherwise = Some(self.list(&["fi"])?);
                        }
                        Some("fi") => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err("syntax error: expected `fi`".into()),
                    }
                }
                Ok(Cmd::If {
                    branches,
                    otherwise,
                })
            }
            Some(kw) => Err(format!("syntax error near unexpected token `{kw}`")),
            None => {
                let mut words = Vec::new();
                let mut redirs = Vec::new();
                while let Some(t) = self.toks.get(self.pos) {
                    match t {
                        Tok::Word { segs, .. } => words.push(segs.clone()),
                        Tok::Redir(r) => redirs.push(r.clone()),
                        Tok::Op(_) => break,
                    }
                    self.pos += 1;
                }
                if words.is_empty() && redirs.is_empty() {
                    return Err("syntax error: empty command".into());
                }
                Ok(Cmd::Simple { words, redirs })
            }
        }
    }
}

pub struct Shell {
    name: String,
    last: i32,
    vars: HashMap<String, String>,
}

impl Shell {
    fn expand(&self, word: &Word) -> String {
        word.iter()
            .map(|s| match s {
                Seg::Lit(l) => l.clone(),
                Seg::Var(v) if v == "?" => self.last.to_string(),
                Seg::Var(v) => self
                    .vars
                    .get(v)
                    .cloned()
                    .or_else(|| std::env::var(v).ok())
                    .unwrap_or_default(),
            })
            .collect()
    }

    fn run_list(&mut self, list: &List) -> i32 {
        for ao in list {
            let mut status = self.run_cmd(&ao.first);
            for (op, cmd) in &ao.rest {
                if (*op == "&&" && status == 0) || (*op == "||" && status != 0) {
                    status = self.run_cmd(cmd);
                }
            }
            self.last = status;
        }
        self.last
    }

    fn run_cmd(&mut self, cmd: &Cmd) -> i32 {
        match cmd {
            Cmd::Simple { words, redirs } => {
                for r in redirs {
                    let target =
                        r.trim_start_matches(|c: char| c.is_ascii_digit() || c == '>' || c == '<');
                    if target != "/dev/null" && !target.starts_with('&') {
                        eprintln!(
                            "{}: redirection `{r}` ignored by the stand-in shell",
                            self.name
                        );
                    }
                }
                let mut argv: Vec<String> = words.iter().map(|w| self.expand(w)).collect();
                // Leading NAME=value assignments.
                while let Some(first) = argv.first() {
                    match first.split_once('=') {
                        Some((k, v))
                            if !k.is_empty()
                                && k.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) =>
                        {
                            if argv.len() == 1 {
                                self.vars.insert(k.to_string(), v.to_string());
                            } else {
                                std::env::set_var(k, v);
                            }
                            argv.remove(0);
                        }
                        _ => break,
                    }
                }
                if argv.is_empty() {
                    return 0;
                }
                let status = self.run_simple(argv);
                self.last = status;
                status
            }
            Cmd::Loop { until, cond, body } => {
                let mut status = 0;
                loop {
                    let c = self.run_list(cond);
                    if (c == 0) == *until {
                        break;
                    }
                    status = self.run_list(body);
                }
                status
            }
            Cmd::If {
                branches,
                otherwise,
            } => {
                for (c, b) in branches {
                    if self.run_list(c) == 0 {
                        return self.run_list(b);
                    }
                }
                otherwise.as_ref().map(|o| self.run_list(o)).unwrap_or(0)
            }
        }
    }

    fn run_simple(&mut self, argv: Vec<String>) -> i32 {
        let name = argv[0].clone();
        let args = &argv[1..];
        match name.as_str() {
            ":" | "true" => 0,
            "false" => 1,
            "echo" => {
                let (newline, rest) = match args.first().map(String::as_str) {
                    Some("-n") => (false, &args[1..]),
                    _ => (true, args),
                };
                print!("{}{}", rest.join(" "), if newline { "\n" } else { "" });
                0
            }
            "printf" => {
                let Some(fmt) = args.first() else { return 1 };
                let mut rest = args[1..].iter();
                let mut out = String::new();
                let mut chars = fmt.chars().peekable();
                while let Some(c) = chars.next() {
                    match (c, chars.peek()) {
                        ('%', Some('s')) => {
                            chars.next();
                            out.push_str(rest.next().map(String::as_str).unwrap_or(""));
                        }
                        ('\\', Some('n')) => {
                            chars.next();
                            out.push('\n');
                        }
                        _ => out.push(c),
                    }
                }
                print!("{out}");
                0
            }
            "sleep" => match args
                .first()
                .and_then(|s| s.trim_end_matches('s').parse::<f64>().ok())
            {
                Some(s) if s >= 0.0 => {
                    std::thread::sleep(std::time::Duration::from_secs_f64(s));
                    0
                }
                _ => {
                    eprintln!("sleep: invalid time interval");
                    1
                }
            },
            "exit" => std::process::exit(
                args.first()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(self.last),
            ),
            "export" => {
                for a in args {
                    match a.split_once('=') {
                        Some((k, v)) => std::env::set_var(k, v),
                        None => {
                            if let Some(v) = self.vars.get(a) {
                                std::env::set_var(a, v);
                            }
                        }
                    }
                }
                0
            }
            "set" => 0,
            "cd" => {
                match std::env::set_current_dir(args.first().map(String::as_str).unwrap_or("/")) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("{}: cd: {e}", self.name);
                        1
                    }
                }
            }
            "test" | "[" => test(&name, args),
            "install" => install(args),
            "exec" => {
                if args.is_empty() {
                    return 0;
                }
                let status = self.external(args.to_vec());
                std::process::exit(status);
            }
            _ => self.external(argv),
        }
    }

    fn external(&mut self, argv: Vec<String>) -> i32 {
        let name = &argv[0];
        let Some(path) = find_on_path(name) else {
            eprintln!("{}: 1: {name}: not found", self.name);
            return 127;
        };
        if is_self(&path) {
            let base = crate::basename(name);
            return crate::dispatch(&base, argv[1..].to_vec());
        }
        match std::process::Command::new(&path).args(&argv[1..]).status() {
            Ok(s) => s.code().unwrap_or(128),
            Err(e) => {
                eprintln!("{}: 1: {name}: {e}", self.name);
                126
            }
        }
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.exists().then_some(p);
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The file is this very binary (a multi-call link or copy).
fn is_self(path: &Path) -> bool {
    let Ok(me) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
        return false;
    };
    let Ok(target) = path.canonicalize() else {
        return false;
    };
    if target == me {
        return true;
    }
    // A copy or hard link: same size and content.
    let (Ok(a), Ok(b)) = (std::fs::metadata(&me), std::fs::metadata(&target)) else {
        return false;
    };
    if a.len() != b.len() {
        return false;
    }
    use std::os::unix::fs::MetadataExt;
    if a.ino() == b.ino() && a.dev() == b.dev() {
        return true;
    }
    matches!((std::fs::read(&me), std::fs::read(&target)), (Ok(x), Ok(y)) if x == y)
}

fn test(name: &str, args: &[String]) -> i32 {
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    if name == "[" {
        if args.last() != Some(&"]") {
            eprintln!("[: missing `]'");
            return 2;
        }
        args.pop();
    }
    let (neg, args) = match args.first() {
        Some(&"!") => (true, &args[1..]),
        _ => (false, &args[..]),
    };
    let r = match args {
        [] => false,
        [s] => !s.is_empty(),
        ["-n", s] => !s.is_empty(),
        ["-z", s] => s.is_empty(),
        ["-e", p] => Path::new(p).exists(),
        ["-f", p] => Path::new(p).is_file(),
        ["-d", p] => Path::new(p).is_dir(),
        ["-s", p] => std::fs::metadata(p).is_ok_and(|m| m.len() > 0),
        [a, "=", b] | [a, "==", b] => a == b,
        [a, "!=", b] => a != b,
        _ => {
            eprintln!("test: unsupported expression {args:?}");
            return 2;
        }
    };
    i32::from(r == neg)
}

/// uid or gid of a name in /etc/passwd or /etc/group (or a number).
fn lookup_id(file: &str, name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

/// coreutils `install [-d] [-m MODE] [-o OWNER] [-g GROUP] SRC DST`.
fn install(args: &[String]) -> i32 {
    let mut mode = None;
    let mut owner = None;
    let mut group = None;
    let mut dirs = false;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-m" => mode = it.next().cloned(),
            "-o" => owner = it.next().cloned(),
            "-g" => group = it.next().cloned(),
            "-d" => dirs = true,
            "-D" | "-c" | "-v" => {}
            s if s.starts_with("--mode=") => mode = Some(s[7..].to_string()),
            s if s.starts_with("--owner=") => owner = Some(s[8..].to_string()),
            s if s.starts_with("--group=") => group = Some(s[8..].to_string()),
            s if s.starts_with('-') => {
                eprintln!("install: unsupported option '{s}'");
                return 1;
            }
            s => files.push(s.to_string()),
        }
    }
    let mode = match mode.as_deref().map(|m| u32::from_str_radix(m, 8)) {
        None => 0o755,
        Some(Ok(m)) => m,
        Some(Err(_)) => {
            eprintln!("install: invalid mode '{}'", mode.unwrap_or_default());
            return 1;
        }
    };
    let uid = match &owner {
        Some(o) => match lookup_id("/etc/passwd", o) {
            Some(u) => Some(u),
            None => {
                eprintln!("install: invalid user '{o}'");
                return 1;
            }
        },
        None => None,
    };
    let gid = match &group {
        Some(g) => match lookup_id("/etc/group", g) {
            Some(u) => Some(u),
            None => {
                eprintln!("install: invalid group '{g}'");
                return 1;
            }
        },
        None => None,
    };
    let finish = |p: &Path| -> Result<(), String> {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot change permissions of '{}': {e}", p.display()))?;
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::chown(p, uid, gid)
                .map_err(|e| format!("cannot change ownership of '{}': {e}", p.display()))?;
        }
        Ok(())
    };
    let result = if dirs {
        files.iter().try_for_each(|d| {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create directory '{d}': {e}"))?;
            finish(Path::new(d))
        })
    } else {
        if files.len() != 2 {
            eprintln!("install: expected SOURCE DEST");
            return 1;
        }
        let src = Path::new(&files[0]);
        let mut dst = PathBuf::from(&files[1]);
        if dst.is_dir() {
            dst = dst.join(src.file_name().unwrap_or_default());
        }
        std::fs::copy(src, &dst)
            .map_err(|e| format!("cannot stat '{}': {e}", src.display()))
            .and_then(|_| finish(&dst))
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("install: {e}");
            1
        }
    }
}

/// `sh -c SCRIPT [NAME [ARGS...]]`, `sh SCRIPTFILE`.
pub fn main(name: &str, args: Vec<String>) -> i32 {
    let script = match args.first().map(String::as_str) {
        Some("-c") => match args.get(1) {
            Some(s) => s.clone(),
            None => {
                eprintln!("{name}: -c: option requires an argument");
                return 2;
            }
        },
        Some("-ec") | Some("-ce") | Some("-euc") | Some("-eu") => match args.get(1) {
            Some(s) => s.clone(),
            None => return 2,
        },
        Some(file) if !file.starts_with('-') => match std::fs::read_to_string(file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{name}: 0: cannot open {file}: {e}");
                return 2;
            }
        },
        _ => {
            eprintln!(
                "{name}: this is Burrow's test-kit stand-in shell; it runs `{name} -c SCRIPT` only (no interactive mode)"
            );
            return 2;
        }
    };
    run(name, &script)
}

pub fn run(name: &str, script: &str) -> i32 {
    let toks = match tokenize(script) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{name}: {e} (stand-in shell)");
            return 2;
        }
    };
    let mut parser = Parser { toks, pos: 0 };
    let list = match parser.list(&[]) {
        Ok(l) if parser.pos >= parser.toks.len() => l,
        Ok(_) => {
            eprintln!("{name}: syntax error near unexpected token");
            return 2;
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            return 2;
        }
    };
    let mut sh = Shell {
        name: name.to_string(),
        last: 0,
        vars: HashMap::new(),
    };
    sh.run_list(&list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(src: &str) -> Vec<String> {
        let sh = Shell {
            name: "sh".into(),
            last: 3,
            vars: HashMap::from([("X".to_string(), "ex".to_string())]),
        };
        tokenize(src)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t {
                Tok::Word { segs, .. } => Some(sh.expand(&segs)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn quoting_and_vars() {
        assert_eq!(
            words(
                r#"mongosh -p "$X" --eval "try { rs.status() } catch (e) { rs.initiate({_id: 'rs0'}) }" a\ b '$X' ${X}y $?"#
            ),
            vec![
                "mongosh",
                "-p",
                "ex",
                "--eval",
                "try { rs.status() } catch (e) { rs.initiate({_id: 'rs0'}) }",
                "a b",
                "$X",
                "exy",
                "3"
            ]
        );
    }

    #[test]
    fn control_flow() {
        assert_eq!(run("sh", "false && exit 9; true || exit 8; test a = a"), 0);
        assert_eq!(run("sh", "i=0; until true; do exit 5; done; if false; then exit 4; elif true; then false; else exit 3; fi"), 1);
        assert_eq!(run("sh", "echo hi > /dev/null 2>&1; [ -n \"x\" ]"), 0);
        assert_eq!(run("sh", "definitely-not-a-command-here"), 127);
        assert_eq!(run("sh", "echo a | cat"), 2);
    }

    #[test]
    fn install_copies_with_mode() {
        let dir = std::env::temp_dir().join(format!("standin-install-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("src");
        std::fs::write(&src, "k").unwrap();
        let dst = dir.join("dst");
        let status = install(&[
            "-m".into(),
            "0400".into(),
            src.display().to_string(),
            dst.display().to_string(),
        ]);
        assert_eq!(status, 0);
        assert_eq!(
            std::fs::metadata(&dst).unwrap().permissions().mode() & 0o777,
            0o400
        );
        assert_eq!(
            install(&[
                "-o".into(),
                "no-such-user-xyz".into(),
                src.display().to_string(),
                dst.display().to_string()
            ]),
            1
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
