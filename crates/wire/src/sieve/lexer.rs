//! Sieve tokens (RFC 5228 §2.2–§2.4, §8.1): identifiers, tags, numbers with K/M/G
//! quantifiers, quoted and multi-line strings, and the punctuation of the grammar.
//!
//! Invariants: the lexer never panics and never allocates more than the script's own size;
//! every token carries the line it starts on, because ManageSieve (RFC 5804 §2.6) and the
//! operator want "line N: …" in an error.

use super::ParseError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `if`, `fileinto`, `header`… (RFC 5228 §8.1 identifier).
    Identifier(String),
    /// `:contains`, lowercased without the colon (tags are case-insensitive, §2.6.2).
    Tag(String),
    /// A number with its quantifier already applied (§2.4.1).
    Number(u64),
    /// A quoted or multi-line string with escapes and dot-stuffing removed.
    String(String),
    Semicolon,
    Comma,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    LeftBracket,
    RightBracket,
}

#[derive(Debug, Clone)]
pub struct Spanned {
    pub token: Token,
    pub line: u32,
}

/// Splits `script` into tokens; comments and white space are dropped.
pub fn tokenize(script: &str) -> Result<Vec<Spanned>, ParseError> {
    let mut lexer = Lexer {
        bytes: script.as_bytes(),
        text: script,
        pos: 0,
        line: 1,
    };
    let mut out = Vec::new();
    while let Some(token) = lexer.next_token()? {
        out.push(token);
    }
    Ok(out)
}

struct Lexer<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    line: u32,
}

impl Lexer<'_> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }

    fn skip_space_and_comments(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump();
                }
                // §2.3 hash-comment: to the end of the line.
                Some(b'#') => {
                    while let Some(b) = self.bump() {
                        if b == b'\n' {
                            break;
                        }
                    }
                }
                // §2.3 bracket-comment: `/* … */`, not nested.
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'*') => {
                    let start = self.line;
                    self.pos += 2;
                    loop {
                        match self.bump() {
                            Some(b'*') if self.peek() == Some(b'/') => {
                                self.pos += 1;
                                break;
                            }
                            Some(_) => {}
                            None => {
                                return Err(ParseError {
                                    line: start,
                                    message: "comment opened with /* is never closed".into(),
                                });
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn next_token(&mut self) -> Result<Option<Spanned>, ParseError> {
        self.skip_space_and_comments()?;
        let line = self.line;
        let Some(b) = self.peek() else {
            return Ok(None);
        };
        let token = match b {
            b';' => self.punct(Token::Semicolon),
            b',' => self.punct(Token::Comma),
            b'(' => self.punct(Token::LeftParen),
            b')' => self.punct(Token::RightParen),
            b'{' => self.punct(Token::LeftBrace),
            b'}' => self.punct(Token::RightBrace),
            b'[' => self.punct(Token::LeftBracket),
            b']' => self.punct(Token::RightBracket),
            b'"' => Token::String(self.quoted_string()?),
            b':' => {
                self.pos += 1;
                let name = self.identifier_text();
                if name.is_empty() {
                    return Err(self.error("a ':' must be followed by a tag name, e.g. :contains"));
                }
                Token::Tag(name.to_ascii_lowercase())
            }
            b'0'..=b'9' => Token::Number(self.number()?),
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let name = self.identifier_text();
                // §2.4.2 multi-line string: `text:` then optional white space/comment and CRLF.
                if name.eq_ignore_ascii_case("text") && self.peek() == Some(b':') {
                    self.pos += 1;
                    Token::String(self.multiline_string()?)
                } else {
                    Token::Identifier(name.to_ascii_lowercase())
                }
            }
            other => {
                let shown = self.text[self.pos..]
                    .chars()
                    .next()
                    .unwrap_or(other as char);
                return Err(self.error(format!("unexpected character {shown:?}")));
            }
        };
        Ok(Some(Spanned { token, line }))
    }

    fn punct(&mut self, token: Token) -> Token {
        self.pos += 1;
        token
    }

    fn identifier_text(&mut self) -> String {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        self.text[start..self.pos].to_string()
    }

    /// §2.4.1: digits with an optional K, M or G (powers of 1024).
    fn number(&mut self) -> Result<u64, ParseError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let value: u64 = self.text[start..self.pos]
            .parse()
            .map_err(|_| self.error("number too large"))?;
        let scale: u64 = match self.peek() {
            Some(b'k' | b'K') => 1 << 10,
            Some(b'm' | b'M') => 1 << 20,
            Some(b'g' | b'G') => 1 << 30,
            _ => 1,
        };
        if scale > 1 {
            self.pos += 1;
        }
        if matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
            return Err(self.error("a number must be followed by K, M, G or a separator"));
        }
        value
            .checked_mul(scale)
            .ok_or_else(|| self.error("number too large"))
    }

    /// §2.4.2 quoted-string: `\"` and `\\` are the only escapes; any other `\x` is `x`.
    fn quoted_string(&mut self) -> Result<String, ParseError> {
        let start_line = self.line;
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.bump() {
                Some(b'"') => break,
                Some(b'\\') => match self.bump() {
                    Some(b) => out.push(b),
                    None => break,
                },
                Some(b) => out.push(b),
                None => {
                    return Err(ParseError {
                        line: start_line,
                        message: "string opened with \" is never closed".into(),
                    });
                }
            }
        }
        // The input is UTF-8 and escapes only ever drop a backslash before an ASCII byte or
        // before the first byte of a character, so the result is UTF-8 as well.
        String::from_utf8(out).map_err(|_| ParseError {
            line: start_line,
            message: "string is not valid UTF-8".into(),
        })
    }

    /// §2.4.2 multi-line string: `text:` [white space] [comment] CRLF, lines, then a line
    /// holding only ".". A line starting with ".." loses one dot.
    fn multiline_string(&mut self) -> Result<String, ParseError> {
        let start_line = self.line;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        if self.peek() == Some(b'#') {
            while !matches!(self.peek(), Some(b'\n') | None) {
                self.pos += 1;
            }
        }
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        if self.bump() != Some(b'\n') {
            return Err(self.error("text: must be followed by the end of the line"));
        }
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            if rest.is_empty() {
                return Err(ParseError {
                    line: start_line,
                    message: "multi-line string (text:) is never ended by a line holding only '.'"
                        .into(),
                });
            }
            let end = rest.find('\n').map(|i| i + 1).unwrap_or(rest.len());
            let raw = &rest[..end];
            self.pos += end;
            self.line += u32::from(raw.ends_with('\n'));
            let content = raw.trim_end_matches('\n').trim_end_matches('\r');
            if content == "." {
                return Ok(out);
            }
            let unstuffed = raw.strip_prefix('.').filter(|r| r.starts_with('.'));
            out.push_str(unstuffed.unwrap_or(raw));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(script: &str) -> Vec<Token> {
        tokenize(script)
            .expect("tokenizes")
            .into_iter()
            .map(|s| s.token)
            .collect()
    }

    #[test]
    fn tokens_of_a_simple_command() {
        assert_eq!(
            kinds("if size :over 100K { discard; } # done"),
            vec![
                Token::Identifier("if".into()),
                Token::Identifier("size".into()),
                Token::Tag("over".into()),
                Token::Number(100 * 1024),
                Token::LeftBrace,
                Token::Identifier("discard".into()),
                Token::Semicolon,
                Token::RightBrace,
            ]
        );
    }

    #[test]
    fn quoted_string_escapes() {
        assert_eq!(
            kinds(r#""a\"b\\c\d""#),
            vec![Token::String(r#"a"b\cd"#.into())]
        );
    }

    #[test]
    fn multiline_string_with_dot_stuffing() {
        let script = "vacation text: # reason\r\nXin chào,\r\n..dot\r\n.\r\n;";
        assert_eq!(
            kinds(script),
            vec![
                Token::Identifier("vacation".into()),
                Token::String("Xin chào,\r\n.dot\r\n".into()),
                Token::Semicolon,
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let err = tokenize("keep;\n\n\"open").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("never closed"));
        let err = tokenize("keep;\n/* open").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(tokenize("size :over 99999999999999999999").is_err());
        assert!(tokenize("size :over 20000000000G").is_err());
        assert!(tokenize("keep @").is_err());
    }

    #[test]
    fn line_numbers_follow_multiline_strings() {
        let toks = tokenize("a text:\nx\ny\n.\nb").expect("tokenizes");
        assert_eq!(toks[2].line, 5);
    }
}
