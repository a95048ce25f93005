//! Running a recipient's Sieve script (RFC 5228) at delivery, after the policy stages.
//!
//! `evaluate` is pure: it takes the parsed script, the message and the envelope, and returns
//! the actions to carry out (file into folders with flags, redirect, discard, reject, a
//! vacation reply). Carrying them out — storing, queueing, the vacation :days memory, the
//! forwarding policy of R-POL-6 — is the delivery code's job, so this module does no I/O.
//!
//! Invariants: a runtime error never loses the message (RFC 5228 §2.10.6: the implicit keep
//! applies and the error is reported); the number of actions is bounded
//! (`MAX_REDIRECTS`, `MAX_ACTIONS`); string expansion is bounded (`MAX_VARIABLE_SIZE`).

mod matching;
mod message;

pub use message::SieveMessage;

use congvu_wire::sieve::{
    AddressPart, BodyTransform, Command, Extension, FlagOp, Modifier, Script, Test,
};
use std::collections::HashMap;

/// Redirects per message: RFC 5228 §4.2 asks for a limit; a person rarely forwards a
/// letter to more than a couple of places, and every redirect is mail sent in their name.
pub const MAX_REDIRECTS: usize = 4;
/// Actions of all kinds per message.
pub const MAX_ACTIONS: usize = 64;
/// RFC 5229 §4: implementations may limit variable length; 4 KiB holds any header value
/// worth keeping in a variable.
pub const MAX_VARIABLE_SIZE: usize = 4096;

/// The envelope of this delivery: one recipient, since scripts are per mailbox.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// MAIL FROM; empty for the null reverse-path.
    pub from: &'a str,
    /// The recipient whose script runs.
    pub to: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Deliver to INBOX (`keep`, or the implicit keep), with these IMAP flags.
    Keep {
        flags: Vec<String>,
    },
    FileInto {
        mailbox: String,
        flags: Vec<String>,
    },
    Redirect {
        address: String,
    },
    Discard,
    /// Refuse the message (RFC 5429): at SMTP time a 550, later a bounce (MDN).
    Reject {
        reason: String,
    },
    Vacation(VacationReply),
}

/// A vacation reply to send, if the delivery code's :days memory allows (RFC 5230 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacationReply {
    /// Whom to answer: the envelope sender.
    pub to: String,
    pub from: Option<String>,
    pub subject: String,
    pub reason: String,
    pub mime: bool,
    /// Identifies "the same vacation" for the :days memory (§4.2): the :handle, or a digest
    /// of the reason and subject when none was given.
    pub handle: String,
    pub days: u64,
}

/// What a script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub actions: Vec<Action>,
    /// A runtime error (the implicit keep was applied instead), for the log and for the user.
    pub error: Option<String>,
}

/// Default and bounds of vacation :days (RFC 5230 §4.1: at least 1; 7 is the usual default).
pub const VACATION_DEFAULT_DAYS: u64 = 7;
pub const VACATION_MAX_DAYS: u64 = 60;

/// Runs `script` for one recipient.
pub fn evaluate(script: &Script, message: &SieveMessage<'_>, envelope: &Envelope<'_>) -> Decision {
    let mut run = Run {
        script,
        message,
        envelope,
        actions: Vec::new(),
        implicit_keep: true,
        flags: Vec::new(),
        variables: HashMap::new(),
        captures: Vec::new(),
    };
    match run.block(&script.commands) {
        Ok(_) => {
            if run.implicit_keep && !run.actions.iter().any(|a| matches!(a, Action::Keep { .. })) {
                let flags = run.flags.clone();
                run.actions.push(Action::Keep { flags });
            }
            Decision {
                actions: run.actions,
                error: None,
            }
        }
        // RFC 5228 §2.10.6: on a runtime error, the implicit keep (and nothing else).
        Err(error) => Decision {
            actions: vec![Action::Keep { flags: Vec::new() }],
            error: Some(error),
        },
    }
}

enum Flow {
    Continue,
    Stop,
}

struct Run<'s, 'm> {
    script: &'s Script,
    message: &'m SieveMessage<'m>,
    envelope: &'m Envelope<'m>,
    actions: Vec<Action>,
    implicit_keep: bool,
    /// The internal flag variable of imap4flags (RFC 5232 §3).
    flags: Vec<String>,
    variables: HashMap<String, String>,
    /// `${0}`…`${9}` from the last successful :matches (RFC 5229 §3.2).
    captures: Vec<String>,
}

impl Run<'_, '_> {
    fn block(&mut self, commands: &[Command]) -> Result<Flow, String> {
        for command in commands {
            if let Flow::Stop = self.command(command)? {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    fn push(&mut self, action: Action) -> Result<(), String> {
        if self.actions.len() >= MAX_ACTIONS {
            return Err(format!("the script took more than {MAX_ACTIONS} actions"));
        }
        // RFC 5228 §2.10.3: the same fileinto/keep twice is done once.
        if !self.actions.contains(&action) {
            self.actions.push(action);
        }
        Ok(())
    }

    fn command(&mut self, command: &Command) -> Result<Flow, String> {
        match command {
            Command::If {
                branches,
                otherwise,
            } => {
                for (test, block) in branches {
                    if self.test(test)? {
                        return self.block(block);
                    }
                }
                if let Some(block) = otherwise {
                    return self.block(block);
                }
            }
            Command::Stop => return Ok(Flow::Stop),
            Command::Keep { flags } => {
                let flags = self.flags_for(flags.as_deref());
                self.check_no_reject("keep")?;
                self.push(Action::Keep { flags })?;
                self.implicit_keep = false;
            }
            Command::Discard => {
                self.implicit_keep = false;
                self.push(Action::Discard)?;
            }
            Command::FileInto {
                mailbox,
                copy,
                flags,
            } => {
                self.check_no_reject("fileinto")?;
                let mailbox = self.expand(mailbox);
                let flags = self.flags_for(flags.as_deref());
                // "fileinto INBOX" is a keep.
                let action = if mailbox.eq_ignore_ascii_case("INBOX") {
                    Action::Keep { flags }
                } else {
                    Action::FileInto { mailbox, flags }
                };
                self.push(action)?;
                if !copy {
                    self.implicit_keep = false;
                }
            }
            Command::Redirect { address, copy } => {
                self.check_no_reject("redirect")?;
                let address = self.expand(address);
                let redirects = self
                    .actions
                    .iter()
                    .filter(|a| matches!(a, Action::Redirect { .. }))
                    .count();
                if redirects >= MAX_REDIRECTS {
                    return Err(format!(
                        "more than {MAX_REDIRECTS} redirects for one message"
                    ));
                }
                self.push(Action::Redirect { address })?;
                if !copy {
                    self.implicit_keep = false;
                }
            }
            Command::Reject { reason } => {
                // RFC 5429 §2.1: reject cannot be combined with keep, fileinto or redirect.
                if self.actions.iter().any(|a| {
                    matches!(
                        a,
                        Action::Keep { .. } | Action::FileInto { .. } | Action::Redirect { .. }
                    )
                }) {
                    return Err("reject cannot follow keep, fileinto or redirect".into());
                }
                let reason = self.expand(reason);
                self.push(Action::Reject { reason })?;
                self.implicit_keep = false;
            }
            Command::Flags {
                op,
                variable,
                flags,
            } => {
                let given = self.flag_list(flags);
                let mut current = match variable {
                    Some(name) => split_flags(&self.variable(name)),
                    None => self.flags.clone(),
                };
                match op {
                    FlagOp::Set => current = given,
                    FlagOp::Add => {
                        for flag in given {
                            if !current.iter().any(|f| f.eq_ignore_ascii_case(&flag)) {
                                current.push(flag);
                            }
                        }
                    }
                    FlagOp::Remove => {
                        current.retain(|f| !given.iter().any(|g| g.eq_ignore_ascii_case(f)))
                    }
                }
                match variable {
                    Some(name) => self.set_variable(name, current.join(" ")),
                    None => self.flags = current,
                }
            }
            Command::Vacation(v) => {
                if let Some(reply) = self.vacation(v) {
                    self.push(Action::Vacation(reply))?;
                }
            }
            Command::Set {
                modifiers,
                name,
                value,
            } => {
                let value = apply_modifiers(modifiers, self.expand(value));
                self.set_variable(name, value);
            }
        }
        Ok(Flow::Continue)
    }

    fn check_no_reject(&self, what: &str) -> Result<(), String> {
        if self
            .actions
            .iter()
            .any(|a| matches!(a, Action::Reject { .. }))
        {
            return Err(format!("{what} cannot follow reject"));
        }
        Ok(())
    }

    fn test(&mut self, test: &Test) -> Result<bool, String> {
        Ok(match test {
            Test::True => true,
            Test::False => false,
            Test::Not(inner) => !self.test(inner)?,
            Test::AllOf(tests) => {
                for t in tests {
                    if !self.test(t)? {
                        return Ok(false);
                    }
                }
                true
            }
            Test::AnyOf(tests) => {
                for t in tests {
                    if self.test(t)? {
                        return Ok(true);
                    }
                }
                false
            }
            Test::Size { over, limit } => {
                let size = self.message.size();
                if *over { size > *limit } else { size < *limit }
            }
            Test::Exists { headers } => {
                headers.iter().all(|h| self.message.exists(&self.expand(h)))
            }
            Test::Header {
                matcher,
                headers,
                keys,
            } => {
                let values: Vec<String> = headers
                    .iter()
                    .flat_map(|h| self.message.header_texts(&self.expand(h)))
                    .collect();
                self.matched(matcher, &values, keys)
            }
            Test::Address {
                part,
                matcher,
                headers,
                keys,
            } => {
                let values: Vec<String> = headers
                    .iter()
                    .flat_map(|h| self.message.header_addresses(&self.expand(h)))
                    .map(|a| address_part(&a, *part))
                    .collect();
                self.matched(matcher, &values, keys)
            }
            Test::Envelope {
                part,
                matcher,
                fields,
                keys,
            } => {
                let values: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        let address = if f.eq_ignore_ascii_case("from") {
                            self.envelope.from
                        } else {
                            self.envelope.to
                        };
                        // RFC 5228 §5.4: the null reverse-path is the empty string for every part.
                        if address.is_empty() {
                            String::new()
                        } else {
                            address_part(address, *part)
                        }
                    })
                    .collect();
                self.matched(matcher, &values, keys)
            }
            Test::Body {
                matcher,
                transform,
                keys,
            } => {
                let values = match transform {
                    BodyTransform::Raw => self.message.body_raw(),
                    BodyTransform::Text => self.message.body_texts(),
                    BodyTransform::Content(types) => self.message.body_contents(types),
                };
                // RFC 5173 §6: the body test never sets match variables.
                let keys: Vec<String> = keys.iter().map(|k| self.expand(k)).collect();
                matching::any_match(matcher, &values, &keys).is_some()
            }
            Test::String {
                matcher,
                sources,
                keys,
            } => {
                let mut values: Vec<String> = sources.iter().map(|s| self.expand(s)).collect();
                // RFC 5229 §5: for :count, empty strings are not counted.
                if matches!(matcher.match_type, congvu_wire::sieve::MatchType::Count(_)) {
                    values.retain(|v| !v.is_empty());
                }
                self.matched(matcher, &values, keys)
            }
            Test::HasFlag {
                matcher,
                variables,
                flags,
            } => {
                let current: Vec<String> = if variables.is_empty() {
                    self.flags.clone()
                } else {
                    variables
                        .iter()
                        .flat_map(|v| split_flags(&self.variable(v)))
                        .collect()
                };
                let keys: Vec<String> = flags.iter().map(|k| self.expand(k)).collect();
                matching::any_match(matcher, &current, &keys).is_some()
            }
        })
    }

    /// Match and, on a :matches success, remember the captures (RFC 5229 §3.2).
    fn matched(
        &mut self,
        matcher: &congvu_wire::sieve::Matcher,
        values: &[String],
        keys: &[String],
    ) -> bool {
        let keys: Vec<String> = keys.iter().map(|k| self.expand(k)).collect();
        match matching::any_match(matcher, values, &keys) {
            Some(captures) => {
                if matches!(matcher.match_type, congvu_wire::sieve::MatchType::Matches) {
                    self.captures = captures
                        .into_iter()
                        .take(10)
                        .map(|c| truncate(c, MAX_VARIABLE_SIZE))
                        .collect();
                }
                true
            }
            None => false,
        }
    }

    fn flags_for(&self, explicit: Option<&[String]>) -> Vec<String> {
        match explicit {
            Some(list) => self.flag_list(list),
            None => self.flags.clone(),
        }
    }

    /// Flag arguments may hold several space-separated flags each (RFC 5232 §3).
    fn flag_list(&self, list: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for item in list {
            for flag in split_flags(&self.expand(item)) {
                if !out.iter().any(|f| f.eq_ignore_ascii_case(&flag)) {
                    out.push(flag);
                }
            }
        }
        out
    }

    fn vacation(&self, v: &congvu_wire::sieve::Vacation) -> Option<VacationReply> {
        let sender = self.envelope.from;
        // RFC 5230 §4.6: never answer the null sender, and never mailing lists or robots.
        if sender.is_empty() {
            return None;
        }
        let local = sender.rsplit_once('@').map(|(l, _)| l).unwrap_or(sender);
        let local = local.to_ascii_lowercase();
        if local.starts_with("owner-")
            || local.ends_with("-request")
            || local == "mailer-daemon"
            || local == "postmaster"
            || local.starts_with("noreply")
            || local.starts_with("no-reply")
        {
            return None;
        }
        // RFC 3834 §2 and RFC 5230 §4.6: automatic replies and list mail get none.
        let auto_submitted = self.message.header_texts("auto-submitted");
        if auto_submitted.iter().any(|v| !v.eq_ignore_ascii_case("no")) {
            return None;
        }
        if ["list-id", "list-unsubscribe", "list-post"]
            .iter()
            .any(|h| self.message.exists(h))
        {
            return None;
        }
        if self
            .message
            .header_texts("precedence")
            .iter()
            .any(|p| matches!(p.to_ascii_lowercase().as_str(), "bulk" | "list" | "junk"))
        {
            return None;
        }
        // RFC 5230 §4.5: only when one of the user's addresses is a visible recipient.
        let mine: Vec<String> = std::iter::once(self.envelope.to.to_string())
            .chain(v.addresses.iter().map(|a| self.expand(a)))
            .map(|a| a.to_ascii_lowercase())
            .collect();
        let visible = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]
            .iter()
            .flat_map(|h| self.message.header_addresses(h))
            .any(|a| mine.contains(&a.to_ascii_lowercase()));
        if !visible {
            return None;
        }
        let reason = self.expand(&v.reason);
        let subject = match &v.subject {
            Some(s) => self.expand(s),
            // RFC 5230 §4.3: "Auto:" and the original subject.
            None => {
                let original = self
                    .message
                    .header_texts("subject")
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                format!("Auto: {original}")
            }
        };
        let handle = match &v.handle {
            Some(h) => self.expand(h),
            // RFC 5230 §4.2: without :handle, the same :subject, :from, :mime and reason
            // arguments make the same vacation (not the "Auto:" subject, which differs per
            // message).
            None => {
                let key = format!(
                    "{}\u{0}{}\u{0}{}\u{0}{reason}",
                    v.subject.as_deref().unwrap_or_default(),
                    v.from.as_deref().unwrap_or_default(),
                    v.mime
                );
                blake3::hash(key.as_bytes()).to_hex()[..16].to_string()
            }
        };
        let days = v
            .days
            .unwrap_or(VACATION_DEFAULT_DAYS)
            .clamp(1, VACATION_MAX_DAYS);
        Some(VacationReply {
            to: sender.to_string(),
            from: v.from.as_ref().map(|f| self.expand(f)),
            subject,
            reason,
            mime: v.mime,
            handle,
            days,
        })
    }

    fn variable(&self, name: &str) -> String {
        self.variables
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    fn set_variable(&mut self, name: &str, value: String) {
        self.variables.insert(
            name.to_ascii_lowercase(),
            truncate(value, MAX_VARIABLE_SIZE),
        );
    }

    /// `${name}` and `${N}` substitution (RFC 5229 §3), only when "variables" is required.
    fn expand(&self, s: &str) -> String {
        if !self.script.requires(Extension::Variables) || !s.contains("${") {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return truncate(out, MAX_VARIABLE_SIZE * 4);
            };
            let name = &after[..end];
            if let Some(value) = self.lookup(name) {
                out.push_str(&value);
                rest = &after[end + 1..];
            } else {
                // Not a variable reference: kept literally (§3).
                out.push_str("${");
                rest = after;
            }
        }
        out.push_str(rest);
        truncate(out, MAX_VARIABLE_SIZE * 4)
    }

    fn lookup(&self, name: &str) -> Option<String> {
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) {
            let n: usize = name.parse().ok()?;
            return Some(self.captures.get(n).cloned().unwrap_or_default());
        }
        let valid = name.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        valid.then(|| self.variable(name))
    }
}

fn split_flags(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn address_part(address: &str, part: AddressPart) -> String {
    let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
    match part {
        AddressPart::All => address.to_string(),
        AddressPart::LocalPart => local.to_string(),
        AddressPart::Domain => domain.to_string(),
    }
}

/// RFC 5229 §4.1: modifiers apply from the highest precedence (40: :lower/:upper) down to
/// the lowest (10: :length).
fn apply_modifiers(modifiers: &[Modifier], mut value: String) -> String {
    let has = |m: Modifier| modifiers.contains(&m);
    if has(Modifier::Lower) {
        value = value.to_lowercase();
    }
    if has(Modifier::Upper) {
        value = value.to_uppercase();
    }
    if has(Modifier::LowerFirst) || has(Modifier::UpperFirst) {
        let mut chars = value.chars();
        if let Some(first) = chars.next() {
            let head: String = if has(Modifier::UpperFirst) {
                first.to_uppercase().collect()
            } else {
                first.to_lowercase().collect()
            };
            value = head + chars.as_str();
        }
    }
    if has(Modifier::QuoteWildcard) {
        value = matching::quote_wildcards(&value);
    }
    if has(Modifier::Length) {
        value = value.chars().count().to_string();
    }
    value
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests;
