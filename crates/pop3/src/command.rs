//! Parsing one command line into a [`Command`] (RFC 1939 §3): a case-insensitive keyword of
//! three or four characters, then arguments separated by single spaces.
//!
//! Pure and total: any byte string gives a command or a [`ParseError`] whose text is the
//! sentence the client sees after `-ERR`. Nothing here does I/O or knows the session state.

/// A message number as the client wrote it: 1-based, checked against the maildrop later.
pub(crate) type MsgNum = u32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Capa,
    Quit,
    Noop,
    Stls,
    User(String),
    /// The rest of the line, spaces included (RFC 1939 §7 allows passwords with spaces).
    Pass(String),
    /// `AUTH` alone lists mechanisms (the older RFC 1734 form some clients still send).
    Auth {
        mechanism: Option<String>,
        initial: Option<String>,
    },
    Stat,
    List(Option<MsgNum>),
    Uidl(Option<MsgNum>),
    Retr(MsgNum),
    Top(MsgNum, u64),
    Dele(MsgNum),
    Rset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// A keyword we do not implement (APOP, LAST, XTND, or noise).
    Unknown,
    /// A known keyword with wrong arguments; the text says what is wrong.
    BadArguments(&'static str),
    NotUtf8,
}

impl ParseError {
    pub(crate) fn sentence(&self) -> &'static str {
        match self {
            ParseError::Unknown => "Unknown command; send CAPA to see what this server supports.",
            ParseError::BadArguments(text) => text,
            ParseError::NotUtf8 => "The command is not valid UTF-8.",
        }
    }
}

/// Parses one line, with or without its CRLF.
pub(crate) fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let line = strip_line_end(line);
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let (keyword, rest) = match line.split_once(' ') {
        Some((keyword, rest)) => (keyword, Some(rest)),
        None => (line, None),
    };
    if keyword.len() > 4 {
        return Err(ParseError::Unknown);
    }
    let keyword = keyword.to_ascii_uppercase();
    let args: Vec<&str> = rest
        .map(|r| r.split(' ').filter(|a| !a.is_empty()).collect())
        .unwrap_or_default();
    let none = |cmd: Command, text: &'static str| {
        if args.is_empty() {
            Ok(cmd)
        } else {
            Err(ParseError::BadArguments(text))
        }
    };
    match keyword.as_str() {
        "CAPA" => none(Command::Capa, "CAPA takes no arguments."),
        "QUIT" => none(Command::Quit, "QUIT takes no arguments."),
        "NOOP" => none(Command::Noop, "NOOP takes no arguments."),
        "STLS" => none(Command::Stls, "STLS takes no arguments."),
        "STAT" => none(Command::Stat, "STAT takes no arguments."),
        "RSET" => none(Command::Rset, "RSET takes no arguments."),
        "USER" => match args.as_slice() {
            [name] => Ok(Command::User((*name).to_string())),
            _ => Err(ParseError::BadArguments(
                "USER needs exactly one argument: your e-mail address.",
            )),
        },
        "PASS" => match rest {
            Some(password) if !password.is_empty() => Ok(Command::Pass(password.to_string())),
            _ => Err(ParseError::BadArguments("PASS needs your password.")),
        },
        "AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial: None,
            }),
            [mechanism] => Ok(Command::Auth {
                mechanism: Some(mechanism.to_ascii_uppercase()),
                initial: None,
            }),
            [mechanism, initial] => Ok(Command::Auth {
                mechanism: Some(mechanism.to_ascii_uppercase()),
                initial: Some((*initial).to_string()),
            }),
            _ => Err(ParseError::BadArguments(
                "AUTH takes a mechanism name and at most one initial response.",
            )),
        },
        "LIST" | "UIDL" => {
            let number = match args.as_slice() {
                [] => None,
                [n] => Some(parse_number(n)?),
                _ => {
                    return Err(ParseError::BadArguments(
                        "LIST and UIDL take at most one message number.",
                    ));
                }
            };
            Ok(if keyword == "LIST" {
                Command::List(number)
            } else {
                Command::Uidl(number)
            })
        }
        "RETR" | "DELE" => match args.as_slice() {
            [n] => {
                let n = parse_number(n)?;
                Ok(if keyword == "RETR" {
                    Command::Retr(n)
                } else {
                    Command::Dele(n)
                })
            }
            _ => Err(ParseError::BadArguments(
                "RETR and DELE need exactly one message number.",
            )),
        },
        "TOP" => match args.as_slice() {
            [n, lines] => Ok(Command::Top(parse_number(n)?, parse_line_count(lines)?)),
            _ => Err(ParseError::BadArguments(
                "TOP needs a message number and a number of lines.",
            )),
        },
        _ => Err(ParseError::Unknown),
    }
}

/// The line without its trailing CRLF (or bare LF).
pub(crate) fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_number(text: &str) -> Result<MsgNum, ParseError> {
    const BAD: ParseError =
        ParseError::BadArguments("A message number is a positive whole number such as 1.");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD);
    }
    match text.parse::<MsgNum>() {
        Ok(0) | Err(_) => Err(BAD),
        Ok(n) => Ok(n),
    }
}

/// TOP's line count: any non-negative number; one beyond u64 means "all lines".
fn parse_line_count(text: &str) -> Result<u64, ParseError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadArguments(
            "The number of lines for TOP is a whole number such as 0 or 10.",
        ));
    }
    Ok(text.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_case_insensitive_and_arguments_parsed() {
        assert_eq!(parse_command(b"capa\r\n"), Ok(Command::Capa));
        assert_eq!(parse_command(b"Stat\r\n"), Ok(Command::Stat));
        assert_eq!(parse_command(b"LIST\r\n"), Ok(Command::List(None)));
        assert_eq!(parse_command(b"list 2\r\n"), Ok(Command::List(Some(2))));
        assert_eq!(parse_command(b"UIDL 3\n"), Ok(Command::Uidl(Some(3))));
        assert_eq!(parse_command(b"RETR 1\r\n"), Ok(Command::Retr(1)));
        assert_eq!(parse_command(b"TOP 1 0\r\n"), Ok(Command::Top(1, 0)));
        assert_eq!(
            parse_command(b"TOP 1 99999999999999999999999\r\n"),
            Ok(Command::Top(1, u64::MAX))
        );
        assert_eq!(
            parse_command(b"USER an@tinh.gov.vn\r\n"),
            Ok(Command::User("an@tinh.gov.vn".into()))
        );
        assert_eq!(
            parse_command("PASS mật khẩu 1\r\n".as_bytes()),
            Ok(Command::Pass("mật khẩu 1".into()))
        );
        assert_eq!(
            parse_command(b"AUTH plain AGFuAHg=\r\n"),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("AGFuAHg=".into())
            })
        );
    }

    #[test]
    fn bad_input_gets_a_sentence() {
        assert_eq!(
            parse_command(b"RETR 0\r\n").map_err(|e| e.sentence()),
            Err("A message number is a positive whole number such as 1.")
        );
        assert!(matches!(
            parse_command(b"RETR -1\r\n"),
            Err(ParseError::BadArguments(_))
        ));
        assert!(matches!(
            parse_command(b"RETR 99999999999\r\n"),
            Err(ParseError::BadArguments(_))
        ));
        assert!(matches!(
            parse_command(b"RETR\r\n"),
            Err(ParseError::BadArguments(_))
        ));
        assert!(matches!(
            parse_command(b"LIST 1 2\r\n"),
            Err(ParseError::BadArguments(_))
        ));
        assert!(matches!(
            parse_command(b"STAT 1\r\n"),
            Err(ParseError::BadArguments(_))
        ));
        assert!(matches!(
            parse_command(b"PASS\r\n"),
            Err(ParseError::BadArguments(_))
        ));
        assert_eq!(parse_command(b"APOP a b\r\n"), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"\r\n"), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"RETRIEVE 1\r\n"), Err(ParseError::Unknown));
        assert_eq!(parse_command(b"USER \xff\r\n"), Err(ParseError::NotUtf8));
    }
}
