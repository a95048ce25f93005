//! FETCH and UID FETCH (RFC 9051 §6.4.5, response §7.5.2).
//!
//! What it keeps true:
//! - ENVELOPE and BODY/BODYSTRUCTURE come from the stored index; section data is sliced from
//!   the blob by stored offsets (`section.rs`).
//! - BODY[...] without .PEEK, RFC822 and RFC822.TEXT set `\Seen` (unless the folder was
//!   opened with EXAMINE), and such messages report their new FLAGS in the same response.
//! - UID FETCH always includes UID (RFC 9051 §6.4.9).
//! - CHANGEDSINCE (RFC 7162 §3.1.4.1) narrows the set to messages with a higher MODSEQ and
//!   adds MODSEQ; VANISHED (§3.2.6) first reports UIDs of the set expunged since then.
//! - BINARY[…] and BINARY.SIZE[…] (RFC 3516) return part bodies decoded from base64 or
//!   quoted-printable (`binary.rs`), as literal8 when they contain NUL.
//! - Output is flushed every few hundred KiB, so a large FETCH does not pile up in memory.

use crate::ImapContext;
use crate::bodystructure::{write_body, write_envelope};
use crate::conn::Io;
use crate::done::{CmdResult, Done};
use crate::section::{SectionSpec, SectionText, extract, find_part, partial};
use crate::selected::{Selected, flag_list, uid_in, uid_set};
use congvu_core::flags::FlagOp;
use congvu_core::{Flag, Flags};
use congvu_store::{BlobHash, MessageRecord, Uid};
use congvu_wire::mime::{BodyPart, PartBody};
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItemName, Part, Section,
};
use imap_codec::imap_types::sequence::SequenceSet;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The index of an empty message, in the records of a FETCH none of whose items reads the
/// index (`needs_index`).
static UNUSED_INDEX: std::sync::LazyLock<Arc<congvu_wire::mime::MessageIndex>> =
    std::sync::LazyLock::new(|| Arc::new(congvu_wire::mime::parse_message(b"\r\n")));

/// Messages whose records are loaded at once.
const CHUNK: usize = 100;

/// Body bytes read in one blocking call at most (unless one message alone is larger).
const BLOB_GROUP_BYTES: u64 = 2 << 20;

fn path(part: &Option<Part>) -> Vec<u32> {
    part.as_ref()
        .map(|p| p.0.as_ref().iter().map(|n| n.get()).collect())
        .unwrap_or_default()
}

fn names(list: &[imap_codec::imap_types::core::AString<'_>]) -> Vec<String> {
    list.iter()
        .map(|n| String::from_utf8_lossy(n.as_ref()).into_owned())
        .collect()
}

/// The section as our extraction sees it, and its label in the response.
fn section_spec(section: &Option<Section<'_>>) -> (SectionSpec, String) {
    let join = |p: &[u32]| p.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
    let with_prefix = |p: &[u32], s: &str| {
        if p.is_empty() {
            s.to_string()
        } else {
            format!("{}.{s}", join(p))
        }
    };
    let field_list = |n: &[String]| {
        n.iter()
            .map(|x| quote_field(x))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match section {
        None => (
            SectionSpec {
                path: vec![],
                text: SectionText::Full,
            },
            String::new(),
        ),
        Some(Section::Part(p)) => {
            let path: Vec<u32> = p.0.as_ref().iter().map(|n| n.get()).collect();
            let label = join(&path);
            (
                SectionSpec {
                    path,
                    text: SectionText::Full,
                },
                label,
            )
        }
        Some(Section::Header(p)) => {
            let path = path(p);
            let label = with_prefix(&path, "HEADER");
            (
                SectionSpec {
                    path,
                    text: SectionText::Header,
                },
                label,
            )
        }
        Some(Section::HeaderFields(p, list)) | Some(Section::HeaderFieldsNot(p, list)) => {
            let not = matches!(section, Some(Section::HeaderFieldsNot(..)));
            let path = path(p);
            let names = names(list.as_ref());
            let kw = if not {
                "HEADER.FIELDS.NOT"
            } else {
                "HEADER.FIELDS"
            };
            let label = format!("{} ({})", with_prefix(&path, kw), field_list(&names));
            (
                SectionSpec {
                    path,
                    text: SectionText::HeaderFields { names, not },
                },
                label,
            )
        }
        Some(Section::Text(p)) => {
            let path = path(p);
            let label = with_prefix(&path, "TEXT");
            (
                SectionSpec {
                    path,
                    text: SectionText::Text,
                },
                label,
            )
        }
        Some(Section::Mime(p)) => {
            let path: Vec<u32> = p.0.as_ref().iter().map(|n| n.get()).collect();
            let label = with_prefix(&path, "MIME");
            (
                SectionSpec {
                    path,
                    text: SectionText::Mime,
                },
                label,
            )
        }
    }
}

fn quote_field(name: &str) -> String {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// RFC 9051 §2.3.3 date-time: `"dd-Mon-yyyy hh:mm:ss +zzzz"`.
pub fn internal_date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%d-%b-%Y %H:%M:%S +0000").to_string())
        .unwrap_or_else(|| "01-Jan-1970 00:00:00 +0000".to_string())
}

fn sets_seen(item: &MessageDataItemName<'_>) -> bool {
    matches!(
        item,
        MessageDataItemName::BodyExt { peek: false, .. }
            | MessageDataItemName::Binary { peek: false, .. }
            | MessageDataItemName::Rfc822
            | MessageDataItemName::Rfc822Text
    )
}

fn needs_record(item: &MessageDataItemName<'_>) -> bool {
    !matches!(
        item,
        MessageDataItemName::Flags
            | MessageDataItemName::Uid
            | MessageDataItemName::InternalDate
            | MessageDataItemName::Rfc822Size
            | MessageDataItemName::ModSeq
    )
}

/// True when the item needs the message's parsed index (envelope, body structure, part
/// offsets). `BODY[]` and `RFC822` are the whole bytes: for a FETCH of only those (reading a
/// message, the commonest FETCH after the list view) the index is not loaded at all.
fn needs_index(item: &MessageDataItemName<'_>) -> bool {
    needs_record(item)
        && !matches!(
            item,
            MessageDataItemName::BodyExt { section: None, .. } | MessageDataItemName::Rfc822
        )
}

fn needs_blob(item: &MessageDataItemName<'_>) -> bool {
    matches!(
        item,
        MessageDataItemName::BodyExt { .. }
            | MessageDataItemName::Binary { .. }
            | MessageDataItemName::BinarySize { .. }
            | MessageDataItemName::Rfc822
            | MessageDataItemName::Rfc822Header
            | MessageDataItemName::Rfc822Text
    )
}

pub async fn fetch(
    ctx: &ImapContext,
    io: &mut Io,
    sel: &mut Selected,
    set: &SequenceSet,
    request: &MacroOrMessageDataItemNames<'_>,
    uid: bool,
    modifiers: &[FetchModifier],
) -> std::io::Result<CmdResult> {
    let mut indexes = match sel.resolve(set, uid) {
        Ok(i) => i,
        Err(done) => return Ok(Err(done)),
    };
    let mut items: Vec<MessageDataItemName<'_>> = match request {
        MacroOrMessageDataItemNames::Macro(m) => m.expand(),
        MacroOrMessageDataItemNames::MessageDataItemNames(list) => list.clone(),
    };
    let mut changed_since = None;
    let mut vanished = false;
    for m in modifiers {
        match m {
            FetchModifier::ChangedSince(n) => changed_since = Some(n.get()),
            FetchModifier::Vanished => vanished = true,
        }
    }
    if vanished && !(uid && io.out.qresync && changed_since.is_some()) {
        // RFC 7162 §3.2.6: VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled.
        return Ok(Err(Done::bad(
            "VANISHED needs UID FETCH with CHANGEDSINCE after ENABLE QRESYNC",
        )));
    }
    if items
        .iter()
        .any(|i| matches!(i, MessageDataItemName::ModSeq))
    {
        io.out.condstore = true; // RFC 7162 §3.1: FETCH MODSEQ enables CONDSTORE
    }
    if let Some(since) = changed_since {
        // RFC 7162 §3.1.4.1: only messages changed after `since`, and MODSEQ always returned.
        io.out.condstore = true;
        indexes.retain(|&i| sel.messages[i].modseq > since);
        if !items
            .iter()
            .any(|i| matches!(i, MessageDataItemName::ModSeq))
        {
            items.push(MessageDataItemName::ModSeq);
        }
        if vanished {
            let changes = match ctx.store.changes_since(sel.folder.id, since).await {
                Ok(c) => c,
                Err(e) => return Ok(Err(e.into())),
            };
            let gone: Vec<Uid> = changes
                .expunged
                .into_iter()
                .filter(|u| sel.index_of(*u).is_none() && uid_in(set, *u))
                .collect();
            if !gone.is_empty() {
                io.out
                    .untagged(&format!("VANISHED (EARLIER) {}", uid_set(&gone)));
            }
        }
    }
    // RFC 9051 §6.4.9: UID FETCH responses always carry UID; put it first.
    items.retain(|i| !matches!(i, MessageDataItemName::Uid));
    let want_uid = uid || request_has_uid(request);
    let modseq_requested = items
        .iter()
        .any(|i| matches!(i, MessageDataItemName::ModSeq));
    let record_needed = items.iter().any(needs_record);
    let index_needed = items.iter().any(needs_index);
    let blob_needed = items.iter().any(needs_blob);

    // Mark \Seen first, so the FLAGS reported are the ones stored.
    let mut flags_changed: HashSet<Uid> = HashSet::new();
    if !sel.read_only && sel.rights.has('s') && items.iter().any(sets_seen) {
        let unseen: Vec<Uid> = indexes
            .iter()
            .map(|&i| &sel.messages[i])
            .filter(|m| !m.flags.has(Flag::Seen))
            .map(|m| m.uid)
            .collect();
        if !unseen.is_empty()
            && let Some(reader) = sel.private_seen.as_ref().map(|p| p.reader)
        {
            // A keeper's own \Seen: the message flags (the unit's) stay as they are.
            if let Err(e) = ctx
                .store
                .set_private_seen(reader, sel.folder.id, &unseen, true)
                .await
            {
                return Ok(Err(e.into()));
            }
            for uid in unseen {
                if let Some(p) = sel.private_seen.as_mut() {
                    p.uids.insert(uid);
                }
                if let Some(i) = sel.index_of(uid) {
                    flags_changed.insert(uid);
                    sel.messages[i].flags.set(Flag::Seen, true);
                }
            }
        } else if !unseen.is_empty() {
            let seen = Flags::from_names(["\\Seen"]);
            match ctx
                .store
                .store_flags(sel.folder.id, &unseen, FlagOp::Add, &seen, None)
                .await
            {
                Ok(result) => {
                    for m in result.updated {
                        if let Some(i) = sel.index_of(m.uid) {
                            flags_changed.insert(m.uid);
                            sel.messages[i].flags = m.flags;
                            sel.messages[i].modseq = m.modseq;
                        }
                    }
                    sel.advance_after_own_change(result.modseq);
                }
                Err(e) => return Ok(Err(e.into())),
            }
        }
    }

    for chunk in indexes.chunks(CHUNK) {
        let mut records: HashMap<Uid, MessageRecord> = HashMap::new();
        if record_needed {
            let uids: Vec<Uid> = chunk.iter().map(|&i| sel.messages[i].uid).collect();
            let found = if index_needed {
                ctx.store.fetch_records(sel.folder.id, &uids).await
            } else {
                // The index goes unused below (whole bytes only): a placeholder stands in.
                ctx.store
                    .fetch_bodies(sel.folder.id, &uids)
                    .await
                    .map(|list| {
                        list.into_iter()
                            .map(|(summary, blob)| MessageRecord {
                                summary,
                                blob,
                                index: UNUSED_INDEX.clone(),
                            })
                            .collect()
                    })
            };
            match found {
                Ok(list) => records.extend(list.into_iter().map(|r| (r.summary.uid, r))),
                Err(e) => return Ok(Err(e.into())),
            }
        }
        for group in blob_groups(chunk, sel, blob_needed) {
            // The group's bodies in one read (one thread hand-off for all of them, not one each).
            let mut blobs: HashMap<Uid, Arc<Vec<u8>>> = HashMap::new();
            if blob_needed {
                let (uids, hashes): (Vec<Uid>, Vec<BlobHash>) = group
                    .iter()
                    .filter_map(|&i| records.get(&sel.messages[i].uid))
                    .map(|r| (r.summary.uid, r.blob.clone()))
                    .unzip();
                for (uid, read) in uids.into_iter().zip(ctx.blobs.get_many(&hashes).await) {
                    match read {
                        Ok(b) => blobs.insert(uid, b),
                        Err(e) => return Ok(Err(e.into())),
                    };
                }
            }
            for &i in group {
                let m = sel.messages[i].clone();
                let record = records.get(&m.uid);
                if record_needed && record.is_none() {
                    // Expunged by another session since our snapshot: RFC 9051 §7.5.1 lets us
                    // answer with what we have rather than renumber.
                    continue;
                }
                let blob = blobs.remove(&m.uid);
                // BINARY data is decoded before anything is written, so an unknown encoding
                // can still fail the command cleanly (RFC 3516 §4.2 UNKNOWN-CTE).
                let mut decoded: Vec<Vec<u8>> = Vec::new();
                if let (Some(r), Some(b)) = (record, blob.as_ref()) {
                    for item in &items {
                        if let MessageDataItemName::Binary { section, .. }
                        | MessageDataItemName::BinarySize { section } = item
                        {
                            let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
                            match binary_section(b, &r.index.structure, &path) {
                                Some(data) => decoded.push(data),
                                None => {
                                    return Ok(Err(Done::no(
                                        Some("UNKNOWN-CTE"),
                                        "unknown content-transfer-encoding",
                                    )));
                                }
                            }
                        }
                    }
                }
                let mut decoded = decoded.into_iter();
                let out = &mut io.out;
                out.text(&format!("* {} FETCH (", i + 1));
                let mut first = true;
                let mut sep = |out: &mut crate::response::Out| {
                    if !first {
                        out.text(" ");
                    }
                    first = false;
                };
                if want_uid {
                    sep(out);
                    out.text(&format!("UID {}", m.uid));
                }
                let mut flags_written = false;
                for item in &items {
                    sep(out);
                    match item {
                        MessageDataItemName::Flags => {
                            out.text(&format!("FLAGS {}", flag_list(&m.flags)));
                            flags_written = true;
                        }
                        MessageDataItemName::Uid => {}
                        MessageDataItemName::InternalDate => {
                            out.text(&format!(
                                "INTERNALDATE \"{}\"",
                                internal_date(m.internal_date)
                            ));
                        }
                        MessageDataItemName::Rfc822Size => {
                            out.text(&format!("RFC822.SIZE {}", m.size))
                        }
                        MessageDataItemName::ModSeq => {
                            out.text(&format!("MODSEQ ({})", m.modseq.max(1)))
                        }
                        MessageDataItemName::Envelope => {
                            out.text("ENVELOPE ");
                            if let Some(r) = record {
                                write_envelope(out, &r.index.envelope);
                            }
                        }
                        MessageDataItemName::Body | MessageDataItemName::BodyStructure => {
                            let extended = matches!(item, MessageDataItemName::BodyStructure);
                            out.text(if extended { "BODYSTRUCTURE " } else { "BODY " });
                            if let Some(r) = record {
                                write_body(out, &r.index.structure, extended);
                            }
                        }
                        MessageDataItemName::BodyExt {
                            section,
                            partial: range,
                            ..
                        } => {
                            let (spec, label) = section_spec(section);
                            let (Some(r), Some(b)) = (record, blob.as_ref()) else {
                                continue;
                            };
                            let data = extract(b, &r.index.structure, &spec);
                            match range {
                                Some((origin, count)) => {
                                    out.text(&format!("BODY[{label}]<{origin}> "));
                                    out.literal(partial(&data, *origin, count.get()));
                                }
                                None => {
                                    out.text(&format!("BODY[{label}] "));
                                    out.literal(&data);
                                }
                            }
                        }
                        MessageDataItemName::Rfc822
                        | MessageDataItemName::Rfc822Header
                        | MessageDataItemName::Rfc822Text => {
                            let (Some(r), Some(b)) = (record, blob.as_ref()) else {
                                continue;
                            };
                            let (label, text) = match item {
                                MessageDataItemName::Rfc822 => ("RFC822", SectionText::Full),
                                MessageDataItemName::Rfc822Header => {
                                    ("RFC822.HEADER", SectionText::Header)
                                }
                                _ => ("RFC822.TEXT", SectionText::Text),
                            };
                            let data =
                                extract(b, &r.index.structure, &SectionSpec { path: vec![], text });
                            out.text(&format!("{label} "));
                            out.literal(&data);
                        }
                        MessageDataItemName::Binary {
                            section,
                            partial: range,
                            ..
                        } => {
                            let data = decoded.next().unwrap_or_default();
                            let label = section_label(section);
                            let data = match range {
                                Some((origin, count)) => {
                                    out.text(&format!("BINARY[{label}]<{origin}> "));
                                    partial(&data, *origin, count.get())
                                }
                                None => {
                                    out.text(&format!("BINARY[{label}] "));
                                    &data[..]
                                }
                            };
                            // RFC 3516 §4.2: literal8 exactly when the data holds NUL.
                            if data.contains(&0) {
                                out.text("~");
                                out.literal(data);
                            } else {
                                out.literal(data);
                            }
                        }
                        MessageDataItemName::BinarySize { section } => {
                            let data = decoded.next().unwrap_or_default();
                            out.text(&format!(
                                "BINARY.SIZE[{}] {}",
                                section_label(section),
                                data.len()
                            ));
                        }
                    }
                }
                if flags_changed.contains(&m.uid) && !flags_written {
                    sep(out);
                    out.text(&format!("FLAGS {}", flag_list(&m.flags)));
                    // RFC 7162 §3.1.4: a flag change reported under CONDSTORE carries MODSEQ.
                    if out.condstore && !modseq_requested {
                        out.text(&format!(" MODSEQ ({})", m.modseq.max(1)));
                    }
                }
                out.text(")\r\n");
                io.flush_if_large().await?;
            }
        }
    }
    Ok(Ok(Done::ok(if uid {
        "UID FETCH completed"
    } else {
        "FETCH completed"
    })))
}

/// Splits a chunk into groups whose bodies are read together: as many messages as fit in
/// [`BLOB_GROUP_BYTES`] (at least one), so `FETCH 1:* BODY[]` never holds more than about that
/// much body data at once however large the messages are.
fn blob_groups<'a>(chunk: &'a [usize], sel: &Selected, blob_needed: bool) -> Vec<&'a [usize]> {
    if !blob_needed {
        return vec![chunk];
    }
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (n, &i) in chunk.iter().enumerate() {
        let size = sel.messages[i].size;
        if n > start && bytes + size > BLOB_GROUP_BYTES {
            groups.push(&chunk[start..n]);
            (start, bytes) = (n, 0);
        }
        bytes += size;
    }
    if start < chunk.len() {
        groups.push(&chunk[start..]);
    }
    groups
}

fn section_label(section: &[std::num::NonZeroU32]) -> String {
    section
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// The data of BINARY[path]: the whole message for an empty path, a part's body decoded
/// from its Content-Transfer-Encoding otherwise (multipart and message parts as they are).
/// None when the encoding is unknown; an absent part is empty.
fn binary_section(blob: &[u8], root: &BodyPart, path: &[u32]) -> Option<Vec<u8>> {
    let spec = SectionSpec {
        path: path.to_vec(),
        text: SectionText::Full,
    };
    let data = extract(blob, root, &spec);
    if path.is_empty() {
        return Some(data);
    }
    match find_part(root, path) {
        Some(part) if matches!(part.body, PartBody::Single) => {
            crate::binary::decode(&part.encoding, &data)
        }
        _ => Some(data),
    }
}

fn request_has_uid(request: &MacroOrMessageDataItemNames<'_>) -> bool {
    matches!(request, MacroOrMessageDataItemNames::MessageDataItemNames(list) if list.iter().any(|i| matches!(i, MessageDataItemName::Uid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_field_names() {
        assert_eq!(internal_date(1_767_225_600), "01-Jan-2026 00:00:00 +0000");
        assert_eq!(quote_field("Subject"), "Subject");
        assert_eq!(quote_field("a b"), "\"a b\"");
    }
}
