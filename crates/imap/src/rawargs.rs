//! A small reader for command arguments imap-codec does not parse (RFC 5258 LIST-EXTENDED,
//! RFC 6154 CREATE … (USE (…))): atoms, quoted strings, literals and parenthesised lists.
//!
//! What it keeps true: quoted strings are unescaped (`\"`, `\\`) and literals taken by their
//! announced length, exactly as RFC 9051 §4.3 defines them; anything malformed is an error,
//! never a partial result. Nesting is bounded so a hostile command cannot exhaust the stack.

/// One argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Atom(String),
    /// A quoted string.
    Str(Vec<u8>),
    /// A literal (or RFC 3516 literal8).
    Lit(Vec<u8>),
    List(Vec<Arg>),
}

impl Arg {
    /// The bytes of an atom or string (astring), None for a list.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Arg::Atom(a) => Some(a.as_bytes()),
            Arg::Str(s) | Arg::Lit(s) => Some(s),
            Arg::List(_) => None,
        }
    }

    pub fn is_atom(&self, name: &str) -> bool {
        matches!(self, Arg::Atom(a) if a.eq_ignore_ascii_case(name))
    }
}

const MAX_DEPTH: usize = 8;

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn skip_spaces(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\r' | b'\n') {
            self.i += 1;
        }
    }

    fn list(&mut self, depth: usize, closing: bool) -> Result<Vec<Arg>, String> {
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            let Some(&c) = self.b.get(self.i) else {
                return if closing {
                    Err("unterminated list".into())
                } else {
                    Ok(out)
                };
            };
            match c {
                b')' => {
                    self.i += 1;
                    return if closing {
                        Ok(out)
                    } else {
                        Err("unexpected )".into())
                    };
                }
                b'(' => {
                    if depth >= MAX_DEPTH {
                        return Err("lists nested too deeply".into());
                    }
                    self.i += 1;
                    out.push(Arg::List(self.list(depth + 1, true)?));
                }
                b'"' => out.push(Arg::Str(self.quoted()?)),
                b'{' | b'~' => out.push(Arg::Lit(self.literal()?)),
                _ => {
                    let start = self.i;
                    while self.i < self.b.len()
                        && !matches!(self.b[self.i], b' ' | b'\r' | b'\n' | b'(' | b')' | b'"')
                    {
                        self.i += 1;
                    }
                    out.push(Arg::Atom(
                        String::from_utf8_lossy(&self.b[start..self.i]).into_owned(),
                    ));
                }
            }
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>, String> {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.b.get(self.i) {
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => match self.b.get(self.i) {
                    Some(&e @ (b'"' | b'\\')) => {
                        out.push(e);
                        self.i += 1;
                    }
                    _ => return Err("bad escape in quoted string".into()),
                },
                b'\r' | b'\n' => return Err("line break in quoted string".into()),
                c => out.push(c),
            }
        }
        Err("unterminated quoted string".into())
    }

    fn literal(&mut self) -> Result<Vec<u8>, String> {
        if self.b.get(self.i) == Some(&b'~') {
            self.i += 1; // RFC 3516 literal8
        }
        // `~` must be followed by `{` (a fuzzed `~}{` once made the length slice run backwards).
        if self.b.get(self.i) != Some(&b'{') {
            return Err("bad literal announcement".into());
        }
        let close = self.b[self.i..]
            .iter()
            .position(|&c| c == b'}')
            .ok_or("unterminated literal announcement")?
            + self.i;
        let digits = std::str::from_utf8(&self.b[self.i + 1..close])
            .map_err(|_| "bad literal length")?
            .trim_end_matches(['+', '-']);
        let n: usize = digits.parse().map_err(|_| "bad literal length")?;
        let start = close + 1;
        let start = if self.b[start..].starts_with(b"\r\n") {
            start + 2
        } else {
            return Err("literal without CRLF".into());
        };
        let end = start.checked_add(n).ok_or("literal too long")?;
        let data = self
            .b
            .get(start..end)
            .ok_or("literal shorter than announced")?;
        self.i = end;
        Ok(data.to_vec())
    }
}

/// The arguments of a command line after the tag and command name (`UID` not supported).
pub fn parse(command: &[u8]) -> Result<Vec<Arg>, String> {
    let mut r = Reader { b: command, i: 0 };
    let mut all = r.list(0, false)?;
    if all.len() < 2 {
        return Err("missing command name".into());
    }
    all.drain(..2);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form() {
        let args = parse(
            b"a LIST (SUBSCRIBED) \"\" (\"INBOX\" {4}\r\nS\"nt %) RETURN (STATUS (MESSAGES))\r\n",
        )
        .unwrap();
        assert_eq!(args[0], Arg::List(vec![Arg::Atom("SUBSCRIBED".into())]));
        assert_eq!(args[1], Arg::Str(vec![]));
        assert_eq!(
            args[2],
            Arg::List(vec![
                Arg::Str(b"INBOX".to_vec()),
                Arg::Lit(b"S\"nt".to_vec()),
                Arg::Atom("%".into())
            ])
        );
        assert!(args[3].is_atom("return"));
        assert!(parse(b"a LIST (\r\n").is_err());
        assert!(parse(b"a LIST {10}\r\nab\r\n").is_err());
        assert!(parse(b"a LIST \"x\\y\"\r\n").is_err());
        assert!(parse(b"a LIST ((((((((((x))))))))))\r\n").is_err());
        // Found by the imap_command fuzz target: `~` not followed by `{`.
        assert!(parse(b"a APPEND x ~}{\r\nhi\r\n").is_err());
        assert!(parse(b"a APPEND x ~").is_err());
        assert_eq!(
            parse(b"a APPEND x ~{2}\r\nhi\r\n").unwrap()[1],
            Arg::Lit(b"hi".to_vec())
        );
    }
}
