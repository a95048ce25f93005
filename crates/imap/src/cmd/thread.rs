//! THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 §3): the SEARCH result grouped into
//! conversations, written as nested parenthesised lists (§4).
//!
//! - ORDEREDSUBJECT groups by base subject without diacritics (`collate::thread_key`); each thread is
//!   its first message with every later one as a child; threads are ordered by their first
//!   message's date.
//! - REFERENCES follows §3 step by step: containers per Message-ID linked along References
//!   (or In-Reply-To), without loops; dummies pruned; roots merged by base subject; siblings
//!   ordered by date. Dates are the Date header, or the internal date without one; ties go by
//!   message number.
//!
//! What it keeps true: every matching message appears exactly once in the output, whatever
//! the References fields say (loops and duplicate Message-IDs included).

use crate::ImapContext;
use crate::cmd::search::matching;
use crate::cmd::sort::{Info, load};
use crate::collate::{is_reply_or_forward, thread_key};
use crate::done::{CmdResult, Done};
use crate::response::Out;
use crate::section::header_fields;
use crate::selected::Selected;
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::search::SearchKey;
use std::collections::HashMap;

/// Below this depth children are neither sorted nor pruned (recursion bound; real threads
/// are far shallower).
const MAX_DEPTH: usize = 500;

/// A thread tree: a message (index into the infos) or a dummy, and its children.
#[derive(Debug, Clone, Default)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
    dead: bool,
}

/// The message-ids (`<…>`, without brackets) in a header value, in order.
fn msg_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let id = rest[start + 1..start + len].trim();
        if !id.is_empty() {
            out.push(id.to_string());
        }
        rest = &rest[start + len + 1..];
    }
    out
}

fn strip_brackets(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

struct Forest<'a> {
    nodes: Vec<Node>,
    infos: &'a [Info],
}

impl Forest<'_> {
    fn new_node(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node {
            msg,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    /// Whether `a` is `b` or one of its descendants (walks up from `a`).
    fn under(&self, mut a: usize, b: usize) -> bool {
        let mut steps = 0;
        loop {
            if a == b {
                return true;
            }
            match self.nodes[a].parent {
                Some(p) if steps < self.nodes.len() => {
                    a = p;
                    steps += 1;
                }
                _ => return false,
            }
        }
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    /// The date a node sorts by: its message's, or a dummy's first child's.
    fn date(&self, n: usize) -> (i64, usize) {
        match self.nodes[n].msg {
            Some(m) => (self.infos[m].date, self.infos[m].index),
            None => self.nodes[n]
                .children
                .first()
                .map(|&c| self.date(c))
                .unwrap_or((i64::MAX, usize::MAX)),
        }
    }

    fn subject(&self, n: usize) -> Option<&str> {
        match self.nodes[n].msg {
            Some(m) => Some(&self.infos[m].subject),
            None => self.nodes[n]
                .children
                .first()
                .and_then(|&c| self.subject(c)),
        }
    }

    fn sort_children(&mut self, n: usize, depth: usize) {
        let mut kids = std::mem::take(&mut self.nodes[n].children);
        if depth < MAX_DEPTH {
            for &k in &kids {
                self.sort_children(k, depth + 1);
            }
        }
        kids.sort_by_key(|&k| self.date(k));
        self.nodes[n].children = kids;
    }

    /// Writes the thread below `n` (RFC 5256 §4: "(3 6 (4 23)(44 7 96))"). Iterative, with an
    /// explicit stack, so that a crafted chain of thousands of replies cannot overflow the
    /// task's stack.
    fn write(&self, n: usize, line: &mut String) {
        enum Step {
            Node(usize),
            Text(&'static str),
        }
        let mut stack = vec![Step::Node(n)];
        while let Some(step) = stack.pop() {
            let n = match step {
                Step::Text(t) => {
                    line.push_str(t);
                    continue;
                }
                Step::Node(n) => n,
            };
            let node = &self.nodes[n];
            let children = node.children.as_slice();
            if let Some(m) = node.msg {
                line.push_str(&self.number(m).to_string());
                match children {
                    [] => continue,
                    [only] => {
                        line.push(' ');
                        stack.push(Step::Node(*only));
                        continue;
                    }
                    _ => line.push(' '),
                }
            }
            // Several children (or a dummy's): each in parentheses, pushed in reverse.
            for &c in children.iter().rev() {
                stack.push(Step::Text(")"));
                stack.push(Step::Node(c));
                stack.push(Step::Text("("));
            }
        }
    }

    fn number(&self, m: usize) -> u32 {
        // `thread()` puts message numbers in `uid` for THREAD without UID.
        self.infos[m].uid
    }
}

/// RFC 5256 §3 REFERENCES. Returns the forest and its roots in output order.
fn references<'a>(infos: &'a [Info], refs: &[Vec<String>]) -> (Forest<'a>, Vec<usize>) {
    let mut f = Forest {
        nodes: Vec::new(),
        infos,
    };
    let mut ids: HashMap<String, usize> = HashMap::new();
    // Step 1.
    for (m, info) in infos.iter().enumerate() {
        let id = info.message_id.as_deref().map(strip_brackets);
        let me = match id.as_ref().and_then(|i| ids.get(i).copied()) {
            Some(n) if f.nodes[n].msg.is_none() => {
                f.nodes[n].msg = Some(m);
                n
            }
            _ => {
                // Missing or duplicate Message-ID: a container of its own (§3 step 1A).
                let n = f.new_node(Some(m));
                if let Some(i) = id
                    && !ids.contains_key(&i)
                {
                    ids.insert(i, n);
                }
                n
            }
        };
        let chain: Vec<usize> = refs[m]
            .iter()
            .map(|r| match ids.get(r) {
                Some(&n) => n,
                None => {
                    let n = f.new_node(None);
                    ids.insert(r.clone(), n);
                    n
                }
            })
            .collect();
        // 1B: link the references in order, never creating a loop or relinking a child.
        for pair in chain.windows(2) {
            let (p, c) = (pair[0], pair[1]);
            if p != c && f.nodes[c].parent.is_none() && !f.under(p, c) {
                f.link(p, c);
            }
        }
        // 1C: the message's parent is its last reference.
        match chain.last() {
            Some(&p) if p != me && !f.under(p, me) => f.link(p, me),
            _ => f.unlink(me),
        }
    }
    // Step 2: the root set.
    let mut roots: Vec<usize> = (0..f.nodes.len())
        .filter(|&n| f.nodes[n].parent.is_none())
        .collect();
    // Step 4: prune dummies, children first.
    fn prune(f: &mut Forest<'_>, n: usize, depth: usize) {
        let kids = f.nodes[n].children.clone();
        if depth < MAX_DEPTH {
            for k in kids {
                prune(f, k, depth + 1);
            }
        }
        if f.nodes[n].msg.is_some() || f.nodes[n].parent.is_none() {
            return;
        }
        // A dummy below the root: its children take its place (none: it disappears).
        let parent = f.nodes[n].parent.unwrap_or(n);
        let kids = std::mem::take(&mut f.nodes[n].children);
        f.unlink(n);
        f.nodes[n].dead = true;
        for k in kids {
            f.nodes[k].parent = None;
            f.link(parent, k);
        }
    }
    for &r in &roots.clone() {
        prune(&mut f, r, 0);
    }
    let mut next_roots = Vec::new();
    for r in roots.drain(..) {
        if f.nodes[r].msg.is_some() {
            next_roots.push(r);
            continue;
        }
        match f.nodes[r].children.len() {
            0 => f.nodes[r].dead = true,
            1 => {
                // A dummy root with one child: the child becomes the root.
                let c = f.nodes[r].children[0];
                f.unlink(c);
                f.nodes[r].dead = true;
                next_roots.push(c);
            }
            _ => next_roots.push(r),
        }
    }
    let mut roots = next_roots;
    // Step 5: merge roots with the same base subject.
    let mut table: HashMap<String, usize> = HashMap::new();
    let key = |f: &Forest<'_>, r: usize| f.subject(r).map(thread_key).filter(|s| !s.is_empty());
    for &r in &roots {
        let Some(k) = key(&f, r) else {
            continue;
        };
        let replace = match table.get(&k) {
            None => true,
            Some(&old) => {
                let old_dummy = f.nodes[old].msg.is_none();
                let new_dummy = f.nodes[r].msg.is_none();
                !old_dummy
                    && (new_dummy
                        || (f.subject(old).is_some_and(is_reply_or_forward)
                            && !f.subject(r).is_some_and(is_reply_or_forward)))
            }
        };
        if replace {
            table.insert(k, r);
        }
    }
    let mut merged = Vec::new();
    for r in roots.drain(..) {
        let Some(k) = key(&f, r) else {
            merged.push(r);
            continue;
        };
        let Some(&other) = table.get(&k) else {
            merged.push(r);
            continue;
        };
        if other == r {
            merged.push(r);
            continue;
        }
        let (r_dummy, o_dummy) = (f.nodes[r].msg.is_none(), f.nodes[other].msg.is_none());
        if r_dummy && o_dummy {
            for c in std::mem::take(&mut f.nodes[r].children) {
                f.nodes[c].parent = None;
                f.link(other, c);
            }
            f.nodes[r].dead = true;
        } else if o_dummy {
            f.link(other, r);
        } else if r_dummy {
            // The table holds the non-dummy only when it was seen as better; keep the dummy.
            f.link(r, other);
            table.insert(k, r);
            merged.retain(|&x| x != other);
            merged.push(r);
        } else if f.subject(r).is_some_and(is_reply_or_forward)
            && !f.subject(other).is_some_and(is_reply_or_forward)
        {
            f.link(other, r);
        } else {
            let d = f.new_node(None);
            f.link(d, other);
            f.link(d, r);
            table.insert(k, d);
            merged.retain(|&x| x != other);
            merged.push(d);
        }
    }
    let roots: Vec<usize> = merged
        .into_iter()
        .filter(|&r| !f.nodes[r].dead && f.nodes[r].parent.is_none())
        .collect();
    // Step 6: sort.
    for &r in &roots {
        f.sort_children(r, 0);
    }
    let mut roots = roots;
    roots.sort_by_key(|&r| f.date(r));
    (f, roots)
}

/// ORDEREDSUBJECT: each thread is a root with every later message as its child.
fn ordered_subject(infos: &[Info]) -> (Forest<'_>, Vec<usize>) {
    let mut f = Forest {
        nodes: Vec::new(),
        infos,
    };
    let mut order: Vec<(String, i64, usize, usize)> = infos
        .iter()
        .enumerate()
        .map(|(m, i)| (thread_key(&i.subject), i.date, i.index, m))
        .collect();
    order.sort();
    let mut roots: Vec<usize> = Vec::new();
    let mut current: Option<(String, usize)> = None;
    for (subject, _, _, m) in order {
        let n = f.new_node(Some(m));
        match &current {
            Some((s, root)) if *s == subject => {
                let root = *root;
                f.link(root, n);
            }
            _ => {
                roots.push(n);
                current = Some((subject, n));
            }
        }
    }
    roots.sort_by_key(|&r| f.date(r));
    (f, roots)
}

pub async fn thread(
    ctx: &ImapContext,
    out: &mut Out,
    sel: &Selected,
    algorithm: &ThreadingAlgorithm<'_>,
    keys: &[SearchKey<'_>],
    uid: bool,
) -> CmdResult {
    let references_wanted = match algorithm {
        ThreadingAlgorithm::OrderedSubject => false,
        ThreadingAlgorithm::References => true,
        ThreadingAlgorithm::Other(_) => return Err(Done::bad("unknown threading algorithm")),
    };
    let hits = matching(ctx, sel, keys).await?;
    let mut infos = load(ctx, sel, &hits).await?;
    if !uid {
        // Numbering: the forest writes `uid`; give it message numbers instead.
        for i in infos.iter_mut() {
            i.uid = i.index as u32 + 1;
        }
    }
    let (forest, roots) = if references_wanted {
        let mut refs = Vec::with_capacity(infos.len());
        for i in &infos {
            refs.push(reference_chain(ctx, i).await?);
        }
        references(&infos, &refs)
    } else {
        ordered_subject(&infos)
    };
    let mut line = String::from("THREAD ");
    for r in roots {
        line.push('(');
        forest.write(r, &mut line);
        line.push(')');
    }
    out.untagged(line.trim_end());
    Ok(Done::ok("THREAD completed"))
}

/// The References of a message, or its In-Reply-To when it has none (RFC 5256 §3 step 1B).
async fn reference_chain(ctx: &ImapContext, info: &Info) -> Result<Vec<String>, Done> {
    let blob = ctx.blobs.get(&info.blob).await?;
    let end = (info.header.1.min(blob.len() as u64)) as usize;
    let start = (info.header.0 as usize).min(end);
    let mut refs = Vec::new();
    for (field, raw) in header_fields(&blob[start..end]) {
        if field.trim_ascii().eq_ignore_ascii_case(b"references") {
            let value = String::from_utf8_lossy(raw.get(field.len() + 1..).unwrap_or_default());
            refs.extend(msg_ids(&value));
        }
    }
    if refs.is_empty()
        && let Some(irt) = &info.in_reply_to
    {
        refs.extend(msg_ids(irt).into_iter().take(1));
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use congvu_store::BlobHash;

    fn info(n: usize, subject: &str, date: i64, id: &str) -> Info {
        Info {
            index: n,
            uid: n as u32 + 1,
            internal_date: date,
            date,
            size: 1,
            subject: subject.into(),
            from: String::new(),
            to: String::new(),
            cc: String::new(),
            message_id: Some(format!("<{id}>")),
            in_reply_to: None,
            blob: BlobHash(String::new()),
            header: (0, 0),
        }
    }

    fn render(f: &Forest<'_>, roots: &[usize]) -> String {
        let mut line = String::new();
        for &r in roots {
            line.push('(');
            f.write(r, &mut line);
            line.push(')');
        }
        line
    }

    #[test]
    fn references_threads_replies_and_survives_loops() {
        let infos = vec![
            info(0, "Kế hoạch", 10, "a"),
            info(1, "Re: Kế hoạch", 20, "b"),
            info(2, "Giấy mời", 15, "c"),
            info(3, "Re: Kế hoạch", 30, "d"),
            info(4, "Re: Ke hoach", 40, "e"),
            info(5, "loop", 50, "f"),
        ];
        let refs = vec![
            vec![],
            vec!["a".to_string()],
            vec![],
            vec!["a".to_string(), "b".to_string()],
            vec!["zz-missing".to_string()],
            vec!["f".to_string()],
        ];
        let (f, roots) = references(&infos, &refs);
        // 5 refers to a message we do not have, but its base subject folds to the thread's.
        assert_eq!(render(&f, &roots), "(1 (2 4)(5))(3)(6)");
        let msg = msg_ids("<a@x> <b@y>\r\n <c@z>");
        assert_eq!(msg, vec!["a@x", "b@y", "c@z"]);
    }

    #[test]
    fn ordered_subject_groups_by_base_subject() {
        let infos = vec![
            info(0, "Re: báo cáo", 30, "a"),
            info(1, "Báo cáo", 10, "b"),
            info(2, "Lịch", 20, "c"),
            info(3, "Fwd: bao cao", 40, "d"),
        ];
        let (f, roots) = ordered_subject(&infos);
        assert_eq!(render(&f, &roots), "(2 (1)(4))(3)");
    }

    #[test]
    fn a_long_reply_chain_does_not_overflow() {
        let n = 20_000;
        let infos: Vec<Info> = (0..n)
            .map(|i| info(i, "Re: chuỗi", i as i64, &format!("m{i}")))
            .collect();
        let refs: Vec<Vec<String>> = (0..n)
            .map(|i| {
                if i == 0 {
                    vec![]
                } else {
                    vec![format!("m{}", i - 1)]
                }
            })
            .collect();
        let (f, roots) = references(&infos, &refs);
        let out = render(&f, &roots);
        assert!(
            out.starts_with("(1 2 3 ") && out.ends_with(" 20000)"),
            "{}",
            &out[..40]
        );
    }
}
