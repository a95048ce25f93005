//! SEARCH and UID SEARCH (RFC 9051 §6.4.4).
//!
//! The client's keys are first turned into a `Criterion` tree in which every text key
//! (SUBJECT, FROM, TO, CC, BCC, BODY, TEXT) is already answered by `store.search_text` as a
//! set of UIDs; evaluation is then a pure function of one message, unit-tested below.
//!
//! MODSEQ (RFC 7162 §3.1.5) matches on the message's MODSEQ and adds `(MODSEQ n)` to the
//! response, n being the highest MODSEQ among the hits.
//!
//! What it keeps true: dates compare by calendar day in UTC (RFC 9051 says to disregard time
//! and timezone); `\Recent` does not exist here, so RECENT and NEW match nothing, OLD everything.

use crate::ImapContext;
use crate::done::{CmdResult, Done};
use crate::esearch::SearchReturn;
use crate::response::Out;
use crate::section::header_fields;
use crate::selected::{Selected, uid_set};
use chrono::NaiveDate;
use congvu_core::Flag;
use congvu_store::{MessageSummary, TextField, Uid};
use imap_codec::imap_types::search::SearchKey;
use std::collections::{HashMap, HashSet};

/// A search key with text lookups already resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Criterion {
    All,
    Nothing,
    And(Vec<Criterion>),
    Or(Box<Criterion>, Box<Criterion>),
    Not(Box<Criterion>),
    /// Messages with these sequence numbers (1-based) or UIDs.
    Seqs(HashSet<u32>),
    Uids(HashSet<Uid>),
    Flag(Flag, bool),
    Keyword(String, bool),
    Larger(u64),
    Smaller(u64),
    Before(NaiveDate),
    On(NaiveDate),
    Since(NaiveDate),
    SentBefore(NaiveDate),
    SentOn(NaiveDate),
    SentSince(NaiveDate),
    /// HEADER name value: a substring of the field's value, case-insensitive.
    Header(String, String),
    /// MODSEQ n (RFC 7162 §3.1.5): messages whose MODSEQ is at least n.
    ModSeq(u64),
}

/// What evaluation sees of one message.
pub struct Candidate<'a> {
    pub seq: u32,
    pub summary: &'a MessageSummary,
    pub sent_at: Option<i64>,
    /// The message header, present when the criterion needs it.
    pub header: Option<&'a [u8]>,
}

fn day(ts: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.date_naive())
}

pub fn eval(c: &Criterion, m: &Candidate<'_>) -> bool {
    let internal = day(m.summary.internal_date);
    let sent = m.sent_at.and_then(day);
    match c {
        Criterion::All => true,
        Criterion::Nothing => false,
        Criterion::And(all) => all.iter().all(|c| eval(c, m)),
        Criterion::Or(a, b) => eval(a, m) || eval(b, m),
        Criterion::Not(a) => !eval(a, m),
        Criterion::Seqs(set) => set.contains(&m.seq),
        Criterion::Uids(set) => set.contains(&m.summary.uid),
        Criterion::Flag(f, on) => m.summary.flags.has(*f) == *on,
        Criterion::Keyword(k, on) => {
            m.summary
                .flags
                .keywords
                .iter()
                .any(|x| x.eq_ignore_ascii_case(k))
                == *on
        }
        Criterion::Larger(n) => m.summary.size > *n,
        Criterion::Smaller(n) => m.summary.size < *n,
        Criterion::Before(d) => internal.is_some_and(|x| x < *d),
        Criterion::On(d) => internal.is_some_and(|x| x == *d),
        Criterion::Since(d) => internal.is_some_and(|x| x >= *d),
        Criterion::SentBefore(d) => sent.is_some_and(|x| x < *d),
        Criterion::SentOn(d) => sent.is_some_and(|x| x == *d),
        Criterion::SentSince(d) => sent.is_some_and(|x| x >= *d),
        Criterion::Header(name, value) => m.header.is_some_and(|h| header_contains(h, name, value)),
        Criterion::ModSeq(n) => m.summary.modseq.max(1) >= *n,
    }
}

fn header_contains(header: &[u8], name: &str, value: &str) -> bool {
    let needle = value.to_lowercase();
    header_fields(header).into_iter().any(|(field, raw)| {
        if !field.trim_ascii().eq_ignore_ascii_case(name.as_bytes()) {
            return false;
        }
        let text = String::from_utf8_lossy(raw.get(field.len() + 1..).unwrap_or_default());
        // Unfold (RFC 5322 §2.2.3) before matching.
        let unfolded: String = text.replace("\r\n", "").replace('\n', "");
        unfolded.to_lowercase().contains(&needle)
    })
}

/// Whether evaluation needs `sent_at` or header bytes.
fn needs(c: &Criterion) -> (bool, bool) {
    match c {
        Criterion::And(all) => all
            .iter()
            .map(needs)
            .fold((false, false), |a, b| (a.0 || b.0, a.1 || b.1)),
        Criterion::Or(a, b) => {
            let (x, y) = (needs(a), needs(b));
            (x.0 || y.0, x.1 || y.1)
        }
        Criterion::Not(a) => needs(a),
        Criterion::SentBefore(_) | Criterion::SentOn(_) | Criterion::SentSince(_) => (true, false),
        Criterion::Header(..) => (false, true),
        _ => (false, false),
    }
}

type TextQueries = Vec<(TextField, String)>;

/// The UIDs answering each text query (few per SEARCH, so a list is enough).
pub type TextAnswers = Vec<((TextField, String), HashSet<Uid>)>;

fn text_key(key: &SearchKey<'_>) -> Option<(TextField, String)> {
    let (field, s) = match key {
        SearchKey::Subject(s) => (TextField::Subject, s),
        SearchKey::From(s) => (TextField::From, s),
        SearchKey::To(s) => (TextField::To, s),
        SearchKey::Cc(s) => (TextField::Cc, s),
        SearchKey::Bcc(s) => (TextField::Bcc, s),
        SearchKey::Body(s) => (TextField::Body, s),
        SearchKey::Text(s) => (TextField::Text, s),
        _ => return None,
    };
    Some((field, String::from_utf8_lossy(s.as_ref()).into_owned()))
}

fn collect_text(key: &SearchKey<'_>, into: &mut TextQueries) {
    match key {
        SearchKey::And(all) => all.as_ref().iter().for_each(|k| collect_text(k, into)),
        SearchKey::Or(a, b) => {
            collect_text(a, into);
            collect_text(b, into);
        }
        SearchKey::Not(a) => collect_text(a, into),
        other => {
            if let Some(q) = text_key(other) {
                into.push(q);
            }
        }
    }
}

/// Builds the criterion; `texts` holds the answer of each text query.
pub fn build(key: &SearchKey<'_>, sel: &Selected, texts: &TextAnswers) -> Result<Criterion, Done> {
    use Criterion as K;
    Ok(match key {
        SearchKey::And(all) => K::And(
            all.as_ref()
                .iter()
                .map(|k| build(k, sel, texts))
                .collect::<Result<_, _>>()?,
        ),
        SearchKey::Or(a, b) => K::Or(
            Box::new(build(a, sel, texts)?),
            Box::new(build(b, sel, texts)?),
        ),
        SearchKey::Not(a) => K::Not(Box::new(build(a, sel, texts)?)),
        SearchKey::SequenceSet(set) => {
            // Numbers beyond the mailbox match nothing rather than failing the search.
            let seqs = sel.resolve(set, false).unwrap_or_default();
            K::Seqs(seqs.into_iter().map(|i| i as u32 + 1).collect())
        }
        SearchKey::Uid(set) => K::Uids(
            sel.resolve(set, true)?
                .into_iter()
                .map(|i| sel.messages[i].uid)
                .collect(),
        ),
        SearchKey::All => K::All,
        SearchKey::Answered => K::Flag(Flag::Answered, true),
        SearchKey::Deleted => K::Flag(Flag::Deleted, true),
        SearchKey::Draft => K::Flag(Flag::Draft, true),
        SearchKey::Flagged => K::Flag(Flag::Flagged, true),
        SearchKey::Seen => K::Flag(Flag::Seen, true),
        SearchKey::Unanswered => K::Flag(Flag::Answered, false),
        SearchKey::Undeleted => K::Flag(Flag::Deleted, false),
        SearchKey::Undraft => K::Flag(Flag::Draft, false),
        SearchKey::Unflagged => K::Flag(Flag::Flagged, false),
        SearchKey::Unseen => K::Flag(Flag::Seen, false),
        SearchKey::Keyword(k) => K::Keyword(k.inner().to_string(), true),
        SearchKey::Unkeyword(k) => K::Keyword(k.inner().to_string(), false),
        SearchKey::Recent | SearchKey::New => K::Nothing,
        SearchKey::Old => K::All,
        SearchKey::Larger(n) => K::Larger(u64::from(*n)),
        SearchKey::Smaller(n) => K::Smaller(u64::from(*n)),
        SearchKey::Before(d) => K::Before(*d.as_ref()),
        SearchKey::On(d) => K::On(*d.as_ref()),
        SearchKey::Since(d) => K::Since(*d.as_ref()),
        SearchKey::SentBefore(d) => K::SentBefore(*d.as_ref()),
        SearchKey::SentOn(d) => K::SentOn(*d.as_ref()),
        SearchKey::SentSince(d) => K::SentSince(*d.as_ref()),
        // The entry name and type only narrow which flag's MODSEQ counts; we keep one MODSEQ
        // per message, which RFC 7162 §3.1.5 allows ("the server MAY ignore" them in effect,
        // as every metadata item shares the message's MODSEQ).
        SearchKey::ModSequence { modseq, .. } => K::ModSeq(*modseq),
        SearchKey::Header(name, value) => K::Header(
            String::from_utf8_lossy(name.as_ref()).into_owned(),
            String::from_utf8_lossy(value.as_ref()).into_owned(),
        ),
        other => match text_key(other) {
            Some(q) => K::Uids(
                texts
                    .iter()
                    .find(|(k, _)| *k == q)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            ),
            None => return Err(Done::bad("unsupported search key")),
        },
    })
}

/// Whether any key is MODSEQ (RFC 7162 §3.1.5: the response then carries the highest MODSEQ).
pub fn uses_modseq(keys: &[SearchKey<'_>]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(all) => uses_modseq(all.as_ref()),
        SearchKey::Or(a, b) => {
            uses_modseq(std::slice::from_ref(a.as_ref()))
                || uses_modseq(std::slice::from_ref(b.as_ref()))
        }
        SearchKey::Not(a) => uses_modseq(std::slice::from_ref(a.as_ref())),
        _ => false,
    })
}

/// The snapshot indexes (ascending) of the messages matching every key.
pub async fn matching(
    ctx: &ImapContext,
    sel: &Selected,
    keys: &[SearchKey<'_>],
) -> Result<Vec<usize>, Done> {
    let mut queries = Vec::new();
    for key in keys {
        collect_text(key, &mut queries);
    }
    let mut texts: TextAnswers = Vec::new();
    for q in queries {
        if texts.iter().any(|(k, _)| *k == q) {
            continue;
        }
        let found: HashSet<Uid> = ctx
            .store
            .search_text(sel.folder.id, q.0, &q.1)
            .await?
            .into_iter()
            .collect();
        texts.push((q, found));
    }
    let criterion = Criterion::And(
        keys.iter()
            .map(|k| build(k, sel, &texts))
            .collect::<Result<_, _>>()?,
    );
    let (need_sent, need_header) = needs(&criterion);
    let mut sent: HashMap<Uid, Option<i64>> = HashMap::new();
    let mut headers: HashMap<Uid, Vec<u8>> = HashMap::new();
    if need_sent || need_header {
        let uids: Vec<Uid> = sel.messages.iter().map(|m| m.uid).collect();
        for chunk in uids.chunks(200) {
            for rec in ctx.store.fetch_records(sel.folder.id, chunk).await? {
                sent.insert(rec.summary.uid, rec.index.sent_at);
                if need_header {
                    let blob = ctx.blobs.get(&rec.blob).await?;
                    let s = &rec.index.structure;
                    let end = (s.body_start.min(blob.len() as u64)) as usize;
                    let start = (s.header_start as usize).min(end);
                    headers.insert(rec.summary.uid, blob[start..end].to_vec());
                }
            }
        }
    }
    let mut hits = Vec::new();
    for (i, m) in sel.messages.iter().enumerate() {
        let cand = Candidate {
            seq: i as u32 + 1,
            summary: m,
            sent_at: sent.get(&m.uid).copied().flatten(),
            header: headers.get(&m.uid).map(Vec::as_slice),
        };
        if eval(&criterion, &cand) {
            hits.push(i);
        }
    }
    Ok(hits)
}

/// How a SEARCH is answered: its tag (for ESEARCH), UID or message numbers, and the RFC 4731
/// RETURN options when given.
pub struct Answer<'a> {
    pub tag: &'a str,
    pub uid: bool,
    pub ret: Option<SearchReturn>,
}

pub async fn search(
    ctx: &ImapContext,
    out: &mut Out,
    sel: &mut Selected,
    keys: &[SearchKey<'_>],
    answer: Answer<'_>,
) -> CmdResult {
    let modseq = uses_modseq(keys);
    if modseq {
        out.condstore = true; // RFC 7162 §3.1: SEARCH MODSEQ enables CONDSTORE
    }
    let hits = match matching(ctx, sel, keys).await {
        Ok(h) => h,
        Err(e) => {
            if answer.ret.is_some_and(|r| r.save) {
                sel.saved.clear(); // RFC 5182 §2.1: a failed SEARCH empties `$`
            }
            return Err(e);
        }
    };
    let number = |i: usize| {
        if answer.uid {
            sel.messages[i].uid
        } else {
            i as u32 + 1
        }
    };
    let highest = hits.iter().map(|&i| sel.messages[i].modseq.max(1)).max();
    // RFC 9051 §7.3.4: an IMAP4rev2 client gets ESEARCH, as if it had said RETURN (ALL).
    let ret = answer.ret.or(out.rev2.then(|| SearchReturn {
        all: true,
        ..SearchReturn::default()
    }));
    let Some(ret) = ret else {
        let mut line = String::from("SEARCH");
        for &i in &hits {
            line.push(' ');
            line.push_str(&number(i).to_string());
        }
        if modseq && let Some(max) = highest {
            line.push_str(&format!(" (MODSEQ {max})"));
        }
        out.untagged(&line);
        return Ok(Done::ok("SEARCH completed"));
    };
    if ret.save {
        // RFC 5182 §2.4: with MIN and/or MAX only, only those messages are saved.
        let picked: Vec<usize> = if ret.all || ret.count || !(ret.min || ret.max) {
            hits.clone()
        } else {
            let mut p: Vec<usize> = Vec::new();
            if ret.min
                && let Some(&f) = hits.first()
            {
                p.push(f);
            }
            if ret.max
                && let Some(&l) = hits.last()
                && !p.contains(&l)
            {
                p.push(l);
            }
            p
        };
        sel.saved = picked.iter().map(|&i| sel.messages[i].uid).collect();
    }
    if ret.answers() {
        let mut line = String::from("ESEARCH (TAG ");
        line.push_str(&quote_tag(answer.tag));
        line.push(')');
        if answer.uid {
            line.push_str(" UID");
        }
        if ret.min
            && let Some(&f) = hits.first()
        {
            line.push_str(&format!(" MIN {}", number(f)));
        }
        if ret.max
            && let Some(&l) = hits.last()
        {
            line.push_str(&format!(" MAX {}", number(l)));
        }
        if ret.count {
            line.push_str(&format!(" COUNT {}", hits.len()));
        }
        if ret.all && !hits.is_empty() {
            let all: Vec<u32> = hits.iter().map(|&i| number(i)).collect();
            line.push_str(&format!(" ALL {}", uid_set(&all)));
        }
        if modseq && let Some(max) = highest {
            line.push_str(&format!(" MODSEQ {max}"));
        }
        out.untagged(&line);
    }
    Ok(Done::ok("SEARCH completed"))
}

/// A tag as a quoted string (tags never hold `"` or `\`; escaped anyway).
fn quote_tag(tag: &str) -> String {
    format!("\"{}\"", tag.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use congvu_core::Flags;

    fn msg(uid: u32, flags: &[&str], size: u64, date: i64) -> MessageSummary {
        MessageSummary {
            uid,
            modseq: 1,
            flags: Flags::from_names(flags.iter().copied()),
            internal_date: date,
            size,
        }
    }

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn flags_sizes_and_logic() {
        let m = msg(7, &["\\Seen", "$Work"], 1000, 1_767_225_600); // 2026-01-01T00:00:00Z
        let c = Candidate {
            seq: 3,
            summary: &m,
            sent_at: None,
            header: None,
        };
        assert!(eval(&Criterion::Flag(Flag::Seen, true), &c));
        assert!(!eval(&Criterion::Flag(Flag::Seen, false), &c));
        assert!(eval(&Criterion::Keyword("$work".into(), true), &c));
        assert!(eval(&Criterion::Larger(999), &c));
        assert!(!eval(&Criterion::Smaller(1000), &c));
        assert!(eval(&Criterion::On(d(2026, 1, 1)), &c));
        assert!(eval(&Criterion::Since(d(2026, 1, 1)), &c));
        assert!(!eval(&Criterion::Before(d(2026, 1, 1)), &c));
        assert!(
            !eval(&Criterion::SentOn(d(2026, 1, 1)), &c),
            "no Date header: SENT* matches nothing"
        );
        let or = Criterion::Or(
            Box::new(Criterion::Nothing),
            Box::new(Criterion::Seqs([3].into())),
        );
        assert!(eval(&or, &c));
        assert!(!eval(&Criterion::Not(Box::new(or)), &c));
        assert!(eval(
            &Criterion::And(vec![Criterion::All, Criterion::Uids([7].into())]),
            &c
        ));
    }

    #[test]
    fn header_key_unfolds_and_ignores_case() {
        let m = msg(1, &[], 1, 0);
        let header = "Subject: Kế hoạch\r\n năm 2026\r\nX-Priority: 1\r\n\r\n".as_bytes();
        let c = Candidate {
            seq: 1,
            summary: &m,
            sent_at: Some(1_767_225_600),
            header: Some(header),
        };
        assert!(eval(
            &Criterion::Header("subject".into(), "HOẠCH năm".into()),
            &c
        ));
        assert!(eval(&Criterion::Header("x-priority".into(), "".into()), &c));
        assert!(!eval(&Criterion::Header("x-missing".into(), "".into()), &c));
        assert!(eval(&Criterion::SentOn(d(2026, 1, 1)), &c));
    }
}
