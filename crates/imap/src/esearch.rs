//! The parts of ESEARCH (RFC 4731) and SEARCHRES (RFC 5182) that imap-codec does not parse,
//! handled on the raw command before it is decoded:
//! - `SEARCH RETURN (MIN MAX ALL COUNT SAVE)` is cut out of the command and returned as a
//!   `SearchReturn`; the rest decodes as an ordinary SEARCH.
//! - The `$` marker (the saved search result) is replaced by the saved messages: `UID <set>`
//!   as a search key, a UID set in UID commands, message numbers in the others.
//!
//! What it keeps true: the rewriting only looks at bytes outside quoted strings and literals,
//! so no string a client sends is ever changed; a malformed RETURN list is a BAD, never a
//! guess. `$` is only recognised as a whole token (RFC 5182 §3: `seq-set =/ "$"`).

use crate::done::Done;
use crate::selected::uid_set;
use congvu_store::Uid;

/// The result options of an extended SEARCH (RFC 4731 §3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// RFC 5182: keep the result for `$`.
    pub save: bool,
}

impl SearchReturn {
    /// RFC 4731 §3.1: `RETURN ()` means `RETURN (ALL)`.
    fn all_by_default(mut self) -> Self {
        if !(self.min || self.max || self.all || self.count || self.save) {
            self.all = true;
        }
        self
    }

    /// The ESEARCH response is sent unless SAVE is the only option (RFC 5182 §2.4).
    pub fn answers(&self) -> bool {
        self.min || self.max || self.all || self.count
    }
}

/// Positions of the tokens outside quoted strings and literals, up to the first `limit`.
fn tokens(bytes: &[u8], limit: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() && out.len() < limit {
        match bytes[i] {
            b' ' | b'\r' | b'\n' => i += 1,
            b'(' | b')' => {
                out.push((i, i + 1));
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                out.push((start, i));
            }
            b'{' => {
                // `{n}` or `{n+}` followed by CRLF and n bytes.
                let start = i;
                let close = bytes[i..].iter().position(|&b| b == b'}').map(|p| i + p);
                let n: usize = close
                    .and_then(|c| std::str::from_utf8(&bytes[i + 1..c]).ok())
                    .and_then(|s| s.trim_end_matches(['+', '-']).parse().ok())
                    .unwrap_or(0);
                i = close
                    .map(|c| c.saturating_add(3).saturating_add(n))
                    .unwrap_or(bytes.len())
                    .min(bytes.len());
                out.push((start, i));
            }
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\r' | b'\n' | b'(' | b')') {
                    i += 1;
                }
                out.push((start, i));
            }
        }
    }
    out
}

fn upper(bytes: &[u8], t: (usize, usize)) -> String {
    String::from_utf8_lossy(&bytes[t.0..t.1]).to_ascii_uppercase()
}

/// The command name after the tag and an optional `UID`, and whether `UID` was there.
pub fn command_name(bytes: &[u8]) -> (String, bool) {
    let t = tokens(bytes, 3);
    match t.get(1).map(|x| upper(bytes, *x)) {
        Some(u) if u == "UID" => (t.get(2).map(|x| upper(bytes, *x)).unwrap_or_default(), true),
        Some(name) => (name, false),
        None => (String::new(), false),
    }
}

/// Cuts `RETURN (…)` out of a SEARCH command. `Ok(None)` when there is none.
pub fn take_return(bytes: &[u8]) -> Result<Option<(Vec<u8>, SearchReturn)>, Done> {
    let (name, uid) = command_name(bytes);
    if name != "SEARCH" {
        return Ok(None);
    }
    let t = tokens(bytes, 64);
    let at = if uid { 3 } else { 2 };
    match t.get(at) {
        Some(x) if upper(bytes, *x) == "RETURN" => {}
        _ => return Ok(None),
    }
    if t.get(at + 1).map(|x| &bytes[x.0..x.1]) != Some(b"(") {
        return Err(Done::bad("RETURN needs a list of options"));
    }
    let mut ret = SearchReturn::default();
    let mut k = at + 2;
    loop {
        let Some(tok) = t.get(k) else {
            return Err(Done::bad("unterminated RETURN list"));
        };
        match upper(bytes, *tok).as_str() {
            ")" => break,
            "MIN" => ret.min = true,
            "MAX" => ret.max = true,
            "ALL" => ret.all = true,
            "COUNT" => ret.count = true,
            "SAVE" => ret.save = true,
            other => return Err(Done::bad(format!("unknown RETURN option {other}"))),
        }
        k += 1;
    }
    let (start, end) = (t[at].0, t[k].1);
    let mut rest = bytes[..start].to_vec();
    let tail = &bytes[end..];
    rest.extend_from_slice(tail.strip_prefix(b" ").unwrap_or(tail));
    Ok(Some((rest, ret.all_by_default())))
}

/// How `$` is written in the rewritten command.
pub enum Saved<'a> {
    /// As a search key: `UID <uids>`.
    SearchKey(&'a [Uid]),
    /// As a UID set.
    Uids(&'a [Uid]),
    /// As message numbers (ascending, 1-based).
    Seqs(&'a [u32]),
}

/// A UID no message can have (UIDs are assigned upwards from 1 and the store refuses to
/// exhaust them), used where the saved result is empty so that the set matches nothing.
const NO_UID: &str = "4294967295";

/// Replaces each `$` token; `None` when there is none.
pub fn substitute_dollar(bytes: &[u8], saved: Saved<'_>) -> Option<Vec<u8>> {
    let marks: Vec<(usize, usize)> = tokens(bytes, usize::MAX)
        .into_iter()
        .filter(|t| &bytes[t.0..t.1] == b"$")
        .collect();
    if marks.is_empty() {
        return None;
    }
    let text = match saved {
        Saved::SearchKey([]) => format!("UID {NO_UID}"),
        Saved::SearchKey(u) => format!("UID {}", uid_set(u)),
        Saved::Uids([]) => NO_UID.to_string(),
        Saved::Uids(u) => uid_set(u),
        // Message numbers cannot say "none"; the session turns that case into a UID command.
        Saved::Seqs(s) => uid_set(s),
    };
    let mut out = Vec::with_capacity(bytes.len() + text.len());
    let mut last = 0;
    for (s, e) in marks {
        out.extend_from_slice(&bytes[last..s]);
        out.extend_from_slice(text.as_bytes());
        last = e;
    }
    out.extend_from_slice(&bytes[last..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_options_are_cut_out() {
        let (rest, ret) = take_return(b"a UID SEARCH RETURN (MIN COUNT) SUBJECT \"x\"\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(rest, b"a UID SEARCH SUBJECT \"x\"\r\n".to_vec());
        assert!(ret.min && ret.count && !ret.all && !ret.save);
        let (rest, ret) = take_return(b"a search return () ALL\r\n").unwrap().unwrap();
        assert_eq!(rest, b"a search ALL\r\n".to_vec());
        assert!(ret.all);
        assert!(take_return(b"a SEARCH ALL\r\n").unwrap().is_none());
        assert!(take_return(b"a FETCH RETURN (MIN)\r\n").unwrap().is_none());
        assert!(take_return(b"a SEARCH RETURN (BOGUS) ALL\r\n").is_err());
        assert!(take_return(b"a SEARCH RETURN (MIN\r\n").is_err());
        assert!(take_return(b"a SEARCH RETURN MIN ALL\r\n").is_err());
    }

    #[test]
    fn dollar_outside_strings_only() {
        let got = substitute_dollar(
            b"a SEARCH $ SUBJECT \"$\" BODY {1}\r\n$ OR $ ALL\r\n",
            Saved::SearchKey(&[1, 2, 3, 9]),
        )
        .unwrap();
        assert_eq!(
            got,
            b"a SEARCH UID 1:3,9 SUBJECT \"$\" BODY {1}\r\n$ OR UID 1:3,9 ALL\r\n".to_vec()
        );
        assert_eq!(
            substitute_dollar(b"a UID FETCH $ FLAGS\r\n", Saved::Uids(&[])).unwrap(),
            b"a UID FETCH 4294967295 FLAGS\r\n".to_vec()
        );
        assert!(substitute_dollar(b"a FETCH 1:$x FLAGS\r\n", Saved::Seqs(&[1])).is_none());
        assert_eq!(
            command_name(b"a uid fetch 1 x"),
            ("FETCH".to_string(), true)
        );
        // A huge announced length inside a line only skips to the end.
        assert!(
            substitute_dollar(
                b"a SEARCH {18446744073709551615}\r\n $\r\n",
                Saved::Uids(&[1])
            )
            .is_none()
        );
    }
}
