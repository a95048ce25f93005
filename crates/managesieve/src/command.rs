//! Reading one client command (RFC 5804 §4): a command name, then quoted strings, literals
//! (`{n+}` or `{n}` followed by CRLF and n octets) and atoms, up to CRLF.
//!
//! Keeps true: no line longer than [`MAX_LINE`] is kept, no literal larger than
//! [`MAX_LITERAL`] is kept (it is drained up to [`MAX_DISCARD`] so the client gets a clean
//! answer, and beyond that the connection closes), and the reader never waits longer than the
//! idle timeout for a byte.

use crate::{MAX_DISCARD, MAX_LINE, MAX_LITERAL};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Atom(String),
    Str(Vec<u8>),
}

impl Arg {
    /// The argument as UTF-8 text, for names and mechanisms.
    pub fn text(&self) -> Option<&str> {
        match self {
            Arg::Atom(a) => Some(a),
            Arg::Str(s) => std::str::from_utf8(s).ok(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Arg::Atom(a) => a.as_bytes(),
            Arg::Str(s) => s,
        }
    }
}

#[derive(Debug)]
pub enum Input {
    /// The command name (uppercased) and its arguments.
    Command(String, Vec<Arg>),
    /// A syntax error; the line was consumed. The text names the problem.
    Malformed(String),
    /// A literal above [`MAX_LITERAL`] was drained; the command is refused.
    TooLarge(usize),
    Eof,
    Timeout,
    /// A line or literal too large to even drain: the connection must close.
    Abuse(String),
}

/// Reads one command.
pub async fn read_command<R: AsyncBufRead + Unpin>(reader: &mut R, idle: Duration) -> Input {
    read_items(reader, idle, true).await
}

/// Reads a line of arguments without a command name: a client's SASL response (§2.1).
pub async fn read_response<R: AsyncBufRead + Unpin>(reader: &mut R, idle: Duration) -> Input {
    read_items(reader, idle, false).await
}

async fn read_items<R: AsyncBufRead + Unpin>(reader: &mut R, idle: Duration, named: bool) -> Input {
    let mut args: Vec<Arg> = Vec::new();
    let mut name: Option<String> = (!named).then(String::new);
    let mut oversized = None;
    loop {
        let line = match read_line(reader, idle).await {
            Ok(Some(line)) => line,
            Ok(None) => return Input::Eof,
            Err(LineError::Timeout) => return Input::Timeout,
            Err(LineError::TooLong) => {
                return Input::Abuse(format!("a command line is longer than {MAX_LINE} octets"));
            }
        };
        let (items, literal) = match tokenize(&line) {
            Ok(parsed) => parsed,
            Err(message) => return Input::Malformed(message),
        };
        for item in items {
            if name.is_none() {
                match item {
                    Arg::Atom(a) => name = Some(a.to_ascii_uppercase()),
                    Arg::Str(_) => {
                        return Input::Malformed("a command must start with its name".into());
                    }
                }
            } else {
                args.push(item);
            }
        }
        let Some(size) = literal else {
            break;
        };
        if size > MAX_LITERAL {
            if size > MAX_DISCARD {
                return Input::Abuse(format!("a literal of {size} octets is far above the limit"));
            }
            let mut sink = tokio::io::sink();
            let mut limited = (&mut *reader).take(size as u64);
            match tokio::time::timeout(idle, tokio::io::copy(&mut limited, &mut sink)).await {
                Ok(Ok(n)) if n as usize == size => {}
                Ok(_) => return Input::Eof,
                Err(_) => return Input::Timeout,
            }
            oversized = Some(size);
            continue;
        }
        let mut data = vec![0u8; size];
        match tokio::time::timeout(idle, reader.read_exact(&mut data)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Input::Eof,
            Err(_) => return Input::Timeout,
        }
        args.push(Arg::Str(data));
    }
    if let Some(size) = oversized {
        return Input::TooLarge(size);
    }
    match name {
        Some(name) => Input::Command(name, args),
        None => Input::Malformed("empty command line".into()),
    }
}

enum LineError {
    Timeout,
    TooLong,
}

/// One line without its CRLF, or `None` at end of input.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    idle: Duration,
) -> Result<Option<Vec<u8>>, LineError> {
    let mut line = Vec::new();
    loop {
        let available = match tokio::time::timeout(idle, reader.fill_buf()).await {
            Ok(Ok(buf)) => buf,
            Ok(Err(_)) => return Ok(None),
            Err(_) => return Err(LineError::Timeout),
        };
        if available.is_empty() {
            return Ok(None);
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if line.len() + take > MAX_LINE + 2 {
            return Err(LineError::TooLong);
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(take);
        if done {
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            return Ok(Some(line));
        }
    }
}

/// Splits a line into arguments; a trailing `{n+}`/`{n}` announces a literal that follows.
fn tokenize(line: &[u8]) -> Result<(Vec<Arg>, Option<usize>), String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' | b'\t' => i += 1,
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    match line.get(i) {
                        None => return Err("a quoted string is not closed".into()),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            match line.get(i + 1) {
                                Some(&c @ (b'"' | b'\\')) => s.push(c),
                                _ => {
                                    return Err(
                                        "only \\\" and \\\\ may be escaped in a quoted string"
                                            .into(),
                                    );
                                }
                            }
                            i += 2;
                        }
                        Some(&c) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                out.push(Arg::Str(s));
            }
            b'{' => {
                let rest = &line[i + 1..];
                let close = rest
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("a literal size is not closed with '}'")?;
                if i + 1 + close + 1 != line.len() {
                    return Err("a literal must end the line".into());
                }
                let digits = rest[..close].strip_suffix(b"+").unwrap_or(&rest[..close]);
                let size: usize = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse().ok())
                    .ok_or("a literal size must be a number")?;
                return Ok((out, Some(size)));
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                let start = i;
                while i < line.len() && !matches!(line[i], b' ' | b'\t' | b'"' | b'{') {
                    i += 1;
                }
                let atom = String::from_utf8_lossy(&line[start..i]).into_owned();
                out.push(Arg::Atom(atom));
            }
            other => {
                return Err(format!(
                    "unexpected character {:?} in the command",
                    char::from(other)
                ));
            }
        }
    }
    Ok((out, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(input: &[u8]) -> Input {
        let mut reader = tokio::io::BufReader::new(input);
        read_command(&mut reader, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn commands_with_strings_and_literals() {
        let Input::Command(name, args) =
            read(b"putscript \"l\\\"oc\" {12+}\r\nkeep;\r\nstop;\r\n\r\n").await
        else {
            panic!()
        };
        assert_eq!(name, "PUTSCRIPT");
        assert_eq!(
            args,
            vec![
                Arg::Str(b"l\"oc".to_vec()),
                Arg::Str(b"keep;\r\nstop;".to_vec())
            ]
        );
        let Input::Command(name, args) = read(b"Authenticate \"PLAIN\" \"AGFuAHg=\"\r\n").await
        else {
            panic!()
        };
        assert_eq!(name, "AUTHENTICATE");
        assert_eq!(args.len(), 2);
    }

    #[tokio::test]
    async fn bad_input_is_named() {
        assert!(
            matches!(read(b"PUTSCRIPT \"open\r\n").await, Input::Malformed(m) if m.contains("not closed"))
        );
        assert!(matches!(
            read(b"PUTSCRIPT {x+}\r\n").await,
            Input::Malformed(_)
        ));
        assert!(matches!(
            read(b"PUTSCRIPT {3+} x\r\n").await,
            Input::Malformed(_)
        ));
        assert!(matches!(read(b"\"x\"\r\n").await, Input::Malformed(_)));
        let long = vec![b'A'; MAX_LINE + 10];
        assert!(matches!(read(&long).await, Input::Abuse(_)));
        let mut big = format!("PUTSCRIPT \"a\" {{{}+}}\r\n", MAX_LITERAL + 1).into_bytes();
        big.extend(vec![b'#'; MAX_LITERAL + 1]);
        big.extend_from_slice(b"\r\n");
        assert!(matches!(read(&big).await, Input::TooLarge(_)));
        assert!(matches!(
            read(b"PUTSCRIPT \"a\" {999999999+}\r\n").await,
            Input::Abuse(_)
        ));
        assert!(matches!(read(b"").await, Input::Eof));
    }
}
