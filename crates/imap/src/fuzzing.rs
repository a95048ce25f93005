//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): each runs, on arbitrary bytes,
//! exactly the pure code the server runs on what a client sends or on a stored message, so a
//! panic found by the fuzzer is a panic a client could trigger. They return nothing useful and
//! are not part of the server's API (hidden from the docs).
//!
//! What it keeps true: no function here has a code path of its own; it only calls the server's
//! functions in the order `session.rs` and `cmd/fetch.rs` call them.

use crate::conn::{line_command, line_tag, literal_announcement};
use crate::esearch::{self, Saved};
use crate::response::Out;
use crate::section::{SectionSpec, SectionText};
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;

/// The decoding path of one client command (`Session::read_command`, `rewrite`,
/// `execute_raw`, `execute`): framing of lines and literal announcements, the SEARCHRES `$`
/// and ESEARCH `RETURN` rewrites, the raw argument reader, imap-codec's decoder, and the
/// mailbox-name decoding of the decoded command.
pub fn command(bytes: &[u8]) {
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let _ = literal_announcement(line);
    }
    let _ = line_tag(bytes);
    let _ = line_command(bytes);
    let (_name, _uid) = esearch::command_name(bytes);
    let saved = [1u32, 2, 3, 7, 4_000_000_000];
    let mut variants = vec![bytes.to_vec()];
    for s in [
        Saved::SearchKey(&saved),
        Saved::Uids(&saved),
        Saved::Uids(&[]),
        Saved::Seqs(&[1, 2, 5]),
    ] {
        if let Some(r) = esearch::substitute_dollar(bytes, s) {
            variants.push(r);
        }
    }
    for v in variants {
        let v = match esearch::take_return(&v) {
            Ok(Some((rest, _ret))) => rest,
            Ok(None) => v,
            Err(_) => continue,
        };
        let _ = crate::rawargs::parse(&v);
        if let Ok((_rest, cmd)) = CommandCodec::default().decode(&v) {
            mailbox_names(&cmd.body);
        }
    }
}

fn mailbox_names(body: &CommandBody<'_>) {
    use CommandBody as C;
    let boxes = match body {
        C::Select { mailbox, .. }
        | C::Examine { mailbox, .. }
        | C::Create { mailbox }
        | C::Delete { mailbox }
        | C::Subscribe { mailbox }
        | C::Unsubscribe { mailbox }
        | C::Status { mailbox, .. }
        | C::Append { mailbox, .. }
        | C::Copy { mailbox, .. }
        | C::Move { mailbox, .. } => vec![mailbox],
        C::Rename { from, to } => vec![from, to],
        _ => vec![],
    };
    for m in boxes {
        for utf8 in [false, true] {
            if let Ok(name) = crate::names::from_wire(m, utf8) {
                let _ = crate::names::for_create(&name);
                let _ = crate::names::to_wire(&name, utf8);
            }
        }
    }
}

/// What the server does with a message: index it at delivery (`congvu_wire::mime`), then
/// answer FETCH from the index and the bytes: ENVELOPE, BODYSTRUCTURE, BODY[section] of every
/// part (HEADER, TEXT, MIME, HEADER.FIELDS) and BINARY decoding.
pub fn message(raw: &[u8]) {
    let index = congvu_wire::mime::parse_message(raw);
    let mut out = Out::default();
    crate::bodystructure::write_envelope(&mut out, &index.envelope);
    crate::bodystructure::write_body(&mut out, &index.structure, true);
    crate::bodystructure::write_body(&mut out, &index.structure, false);
    let mut paths: Vec<Vec<u32>> = vec![vec![]];
    let mut i = 0;
    // Every part path down to a bounded depth and breadth (a fuzz input can nest deeply).
    while i < paths.len() && paths.len() < 64 {
        let p = paths[i].clone();
        i += 1;
        if p.len() >= 6 {
            continue;
        }
        for n in 1..=4u32 {
            let mut child = p.clone();
            child.push(n);
            if crate::section::find_part(&index.structure, &child).is_some() {
                paths.push(child);
            }
        }
    }
    for path in paths {
        for text in [
            SectionText::Full,
            SectionText::Header,
            SectionText::Text,
            SectionText::Mime,
            SectionText::HeaderFields {
                names: vec!["Subject".into(), "From".into()],
                not: false,
            },
            SectionText::HeaderFields {
                names: vec!["Received".into()],
                not: true,
            },
        ] {
            let spec = SectionSpec {
                path: path.clone(),
                text,
            };
            let data = crate::section::extract(raw, &index.structure, &spec);
            let _ = crate::section::partial(&data, 3, 100);
        }
        if let Some(part) = crate::section::find_part(&index.structure, &path) {
            let body = crate::section::extract(
                raw,
                &index.structure,
                &SectionSpec {
                    path: path.clone(),
                    text: SectionText::Full,
                },
            );
            let _ = crate::binary::decode(&part.encoding, &body);
        }
    }
}
