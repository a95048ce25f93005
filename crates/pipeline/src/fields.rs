//! The top-level header fields of a raw message (RFC 5322 §2.2), for the few places the
//! pipeline must look at or drop a field as it was written: one field is its name line and
//! every continuation line after it (§2.2.3 folding), up to the empty line that ends the header
//! section. Nested messages and body parts are never touched.
//!
//! Invariant: [`remove_fields`] changes nothing but the removed fields' lines; every other byte
//! (line endings included) is kept in place and order.

/// One top-level field: its name, its value unfolded (CRLFs removed, as §2.2.3 says to read it)
/// and where its lines are in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub value: String,
    /// Byte range of the field's lines, line ends included.
    pub span: std::ops::Range<usize>,
}

/// The top-level header fields of `raw`, in order. A line that is neither a field nor a
/// continuation (no colon) ends nothing and is skipped, as mail readers do.
pub fn header_fields(raw: &[u8]) -> Vec<Field<'_>> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            break;
        }
        if matches!(text[0], b' ' | b'\t') {
            if let Some(last) = fields.last_mut() {
                last.value.push_str(&String::from_utf8_lossy(text));
                last.span.end = end;
            }
        } else if let Some(colon) = text.iter().position(|b| *b == b':')
            && let Ok(name) = std::str::from_utf8(&text[..colon])
        {
            fields.push(Field {
                name: name.trim_end(),
                value: String::from_utf8_lossy(&text[colon + 1..]).into_owned(),
                span: pos..end,
            });
        }
        pos = end;
    }
    fields
}

/// `raw` without the top-level fields `remove` picks, or `None` when it picks none (so the
/// caller keeps its bytes and its index as they are).
pub fn remove_fields(raw: &[u8], mut remove: impl FnMut(&Field<'_>) -> bool) -> Option<Vec<u8>> {
    let doomed: Vec<std::ops::Range<usize>> = header_fields(raw)
        .iter()
        .filter(|f| remove(f))
        .map(|f| f.span.clone())
        .collect();
    if doomed.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut from = 0;
    for span in doomed {
        out.extend_from_slice(&raw[from..span.start]);
        from = span.end;
    }
    out.extend_from_slice(&raw[from..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &[u8] = b"Received: from a\r\n\tby b\r\nAuthentication-Results: x;\r\n spf=pass\r\n\
        Subject: hi\r\n\r\nAuthentication-Results: in the body\r\n";

    #[test]
    fn fields_are_unfolded_and_stop_at_the_body() {
        let fields = header_fields(RAW);
        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["Received", "Authentication-Results", "Subject"]);
        assert_eq!(fields[1].value, " x; spf=pass");
        assert_eq!(&RAW[fields[2].span.clone()], b"Subject: hi\r\n");
    }

    #[test]
    fn removing_keeps_every_other_byte() {
        let out = remove_fields(RAW, |f| {
            f.name.eq_ignore_ascii_case("authentication-results")
        });
        assert_eq!(
            out.as_deref(),
            Some(
                &b"Received: from a\r\n\tby b\r\nSubject: hi\r\n\r\nAuthentication-Results: in the body\r\n"[..]
            )
        );
        assert_eq!(remove_fields(RAW, |_| false), None);
        // A message that is all header (no empty line, no final CRLF) loses its last field whole.
        assert_eq!(
            remove_fields(b"A: 1\nB: 2", |f| f.name == "B").as_deref(),
            Some(&b"A: 1\n"[..])
        );
    }
}
