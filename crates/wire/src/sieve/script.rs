//! Typed Sieve scripts: the generic syntax tree of `syntax.rs` checked against RFC 5228 and
//! the extensions congvu runs — fileinto, envelope, reject (RFC 5429), imap4flags (RFC 5232),
//! vacation (RFC 5230), body (RFC 5173), variables (RFC 5229), copy (RFC 3894), relational
//! (RFC 5231) and the i;ascii-numeric comparator (RFC 4790 §9.1).
//!
//! Everything a script can get wrong is found here, at upload time, so that ManageSieve
//! PUTSCRIPT refuses it with a line number instead of the script failing at delivery
//! (RFC 5804 §2.6). What depends on policy (e.g. forwarding outside government domains) is
//! checked by the pipeline, not here.

use super::ParseError;
use super::syntax::{Argument, CommandNode, TestNode};

/// An extension named in `require` (RFC 5228 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extension {
    FileInto,
    Envelope,
    Reject,
    Imap4Flags,
    Vacation,
    Body,
    Variables,
    Copy,
    Relational,
    AsciiNumeric,
    UnicodeCasemap,
}

impl Extension {
    /// Every capability this implementation announces (ManageSieve "SIEVE" capability).
    pub const ALL: [Extension; 11] = [
        Extension::FileInto,
        Extension::Envelope,
        Extension::Reject,
        Extension::Imap4Flags,
        Extension::Vacation,
        Extension::Body,
        Extension::Variables,
        Extension::Copy,
        Extension::Relational,
        Extension::AsciiNumeric,
        Extension::UnicodeCasemap,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Extension::FileInto => "fileinto",
            Extension::Envelope => "envelope",
            Extension::Reject => "reject",
            Extension::Imap4Flags => "imap4flags",
            Extension::Vacation => "vacation",
            Extension::Body => "body",
            Extension::Variables => "variables",
            Extension::Copy => "copy",
            Extension::Relational => "relational",
            Extension::AsciiNumeric => "comparator-i;ascii-numeric",
            Extension::UnicodeCasemap => "comparator-i;unicode-casemap",
        }
    }

    pub fn from_name(name: &str) -> Option<Extension> {
        Extension::ALL.into_iter().find(|e| e.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    pub extensions: Vec<Extension>,
    pub commands: Vec<Command>,
}

impl Script {
    pub fn requires(&self, extension: Extension) -> bool {
        self.extensions.contains(&extension)
    }

    /// Every address a `redirect` may send to, as written (variables unexpanded), so that
    /// the forwarding policy (R-POL-6) can refuse the script when it is uploaded.
    pub fn redirect_addresses(&self) -> Vec<&str> {
        fn walk<'a>(commands: &'a [Command], out: &mut Vec<&'a str>) {
            for command in commands {
                match command {
                    Command::Redirect { address, .. } => out.push(address),
                    Command::If {
                        branches,
                        otherwise,
                    } => {
                        for (_, block) in branches {
                            walk(block, out);
                        }
                        if let Some(block) = otherwise {
                            walk(block, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.commands, &mut out);
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `if`/`elsif`/`else` folded into one command (RFC 5228 §3.1).
    If {
        branches: Vec<(Test, Vec<Command>)>,
        otherwise: Option<Vec<Command>>,
    },
    Stop,
    /// `keep [:flags list]` (RFC 5228 §4.3, RFC 5232 §5).
    Keep {
        flags: Option<Vec<String>>,
    },
    Discard,
    FileInto {
        mailbox: String,
        /// `:copy` (RFC 3894): the implicit keep is not cancelled.
        copy: bool,
        flags: Option<Vec<String>>,
    },
    Redirect {
        address: String,
        copy: bool,
    },
    Reject {
        reason: String,
    },
    /// setflag / addflag / removeflag (RFC 5232 §4), on the internal variable when `variable` is None.
    Flags {
        op: FlagOp,
        variable: Option<String>,
        flags: Vec<String>,
    },
    Vacation(Vacation),
    /// `set [modifiers] name value` (RFC 5229 §4).
    Set {
        modifiers: Vec<Modifier>,
        name: String,
        value: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Set,
    Add,
    Remove,
}

/// RFC 5230 §4.
#[derive(Debug, Clone, PartialEq)]
pub struct Vacation {
    /// `:days`, at least 1 (§4.1); None = the implementation default.
    pub days: Option<u64>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub addresses: Vec<String>,
    /// The reason is a whole MIME entity (§4.8).
    pub mime: bool,
    pub handle: Option<String>,
    pub reason: String,
}

/// RFC 5229 §4.1 modifiers, applied in precedence order by the evaluator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Lower,
    Upper,
    LowerFirst,
    UpperFirst,
    QuoteWildcard,
    Length,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Address {
        part: AddressPart,
        matcher: Matcher,
        headers: Vec<String>,
        keys: Vec<String>,
    },
    Envelope {
        part: AddressPart,
        matcher: Matcher,
        fields: Vec<String>,
        keys: Vec<String>,
    },
    Header {
        matcher: Matcher,
        headers: Vec<String>,
        keys: Vec<String>,
    },
    Exists {
        headers: Vec<String>,
    },
    Size {
        over: bool,
        limit: u64,
    },
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Not(Box<Test>),
    True,
    False,
    Body {
        matcher: Matcher,
        transform: BodyTransform,
        keys: Vec<String>,
    },
    /// `string` (RFC 5229 §5).
    String {
        matcher: Matcher,
        sources: Vec<String>,
        keys: Vec<String>,
    },
    /// `hasflag` (RFC 5232 §4).
    HasFlag {
        matcher: Matcher,
        variables: Vec<String>,
        flags: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressPart {
    #[default]
    All,
    LocalPart,
    Domain,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BodyTransform {
    Raw,
    /// `:content` with the MIME types to look at (RFC 5173 §5.2).
    Content(Vec<String>),
    #[default]
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Matcher {
    pub comparator: Comparator,
    pub match_type: MatchType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Comparator {
    Octet,
    #[default]
    AsciiCasemap,
    AsciiNumeric,
    /// RFC 5051: case-insensitive for every script, so "Hội Nghị" matches "hội nghị";
    /// i;ascii-casemap (the RFC 5228 default) only folds A–Z.
    UnicodeCasemap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchType {
    #[default]
    Is,
    Contains,
    Matches,
    /// RFC 5231 §4.
    Count(Relation),
    Value(Relation),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Relation {
    fn from_name(name: &str) -> Option<Relation> {
        Some(match name.to_ascii_lowercase().as_str() {
            "gt" => Relation::Gt,
            "ge" => Relation::Ge,
            "lt" => Relation::Lt,
            "le" => Relation::Le,
            "eq" => Relation::Eq,
            "ne" => Relation::Ne,
            _ => return None,
        })
    }

    /// Whether `ordering` (left compared with right) satisfies the relation.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Relation::Gt => ordering == Greater,
            Relation::Ge => ordering != Less,
            Relation::Lt => ordering == Less,
            Relation::Le => ordering != Greater,
            Relation::Eq => ordering == Equal,
            Relation::Ne => ordering != Equal,
        }
    }
}

/// Builds the typed script from the syntax tree.
pub fn build(nodes: Vec<CommandNode>) -> Result<Script, ParseError> {
    let mut script = Script::default();
    let mut iter = nodes.into_iter().peekable();
    // RFC 5228 §3.2: "require" MUST come before any other command.
    while let Some(node) = iter.next_if(|n| n.name == "require") {
        let mut args = Args::new(&node.name, node.line, node.arguments);
        let names = args.strings("the extensions to require")?;
        args.finish()?;
        no_tests_or_block(&node.name, node.line, &node.tests, &node.block)?;
        for name in names {
            let extension = Extension::from_name(&name).ok_or_else(|| ParseError {
                line: node.line,
                message: format!("require: extension \"{name}\" is not supported here"),
            })?;
            if !script.extensions.contains(&extension) {
                script.extensions.push(extension);
            }
        }
    }
    let builder = Builder {
        extensions: script.extensions.clone(),
    };
    script.commands = builder.commands(iter.collect())?;
    Ok(script)
}

struct Builder {
    extensions: Vec<Extension>,
}

impl Builder {
    fn need(&self, extension: Extension, what: &str, line: u32) -> Result<(), ParseError> {
        if self.extensions.contains(&extension) {
            Ok(())
        } else {
            Err(ParseError {
                line,
                message: format!(
                    "{what} needs 'require \"{}\";' at the top of the script",
                    extension.name()
                ),
            })
        }
    }

    fn commands(&self, nodes: Vec<CommandNode>) -> Result<Vec<Command>, ParseError> {
        let mut out: Vec<Command> = Vec::new();
        for node in nodes {
            let line = node.line;
            match node.name.as_str() {
                "elsif" | "else" => {
                    let Some(Command::If {
                        branches,
                        otherwise,
                    }) = out.last_mut()
                    else {
                        return Err(ParseError {
                            line,
                            message: format!("'{}' must follow 'if' or 'elsif'", node.name),
                        });
                    };
                    if otherwise.is_some() {
                        return Err(ParseError {
                            line,
                            message: format!("'{}' cannot follow 'else'", node.name),
                        });
                    }
                    if node.name == "elsif" {
                        let (test, block) = self.conditional(node)?;
                        branches.push((test, block));
                    } else {
                        Args::new("else", line, node.arguments).finish()?;
                        if !node.tests.is_empty() {
                            return Err(err(line, "'else' takes no test"));
                        }
                        let block = node
                            .block
                            .ok_or_else(|| err(line, "'else' must be followed by a block"))?;
                        *otherwise = Some(self.commands(block)?);
                    }
                }
                "if" => {
                    let (test, block) = self.conditional(node)?;
                    out.push(Command::If {
                        branches: vec![(test, block)],
                        otherwise: None,
                    });
                }
                "require" => {
                    return Err(err(
                        line,
                        "'require' must come before every other command (RFC 5228 §3.2)",
                    ));
                }
                _ => out.push(self.action(node)?),
            }
        }
        Ok(out)
    }

    fn conditional(&self, node: CommandNode) -> Result<(Test, Vec<Command>), ParseError> {
        let line = node.line;
        Args::new(&node.name, line, node.arguments).finish()?;
        let mut tests = node.tests;
        if tests.len() != 1 {
            return Err(err(line, format!("'{}' takes exactly one test", node.name)));
        }
        let test = self.test(tests.remove(0))?;
        let block = node
            .block
            .ok_or_else(|| err(line, format!("'{}' must be followed by a block", node.name)))?;
        Ok((test, self.commands(block)?))
    }

    fn action(&self, node: CommandNode) -> Result<Command, ParseError> {
        let name = node.name.clone();
        let line = node.line;
        no_tests_or_block(&name, line, &node.tests, &node.block)?;
        let mut args = Args::new(&name, line, node.arguments);
        let command = match name.as_str() {
            "stop" => Command::Stop,
            "discard" => Command::Discard,
            "keep" => Command::Keep {
                flags: self.flags_tag(&mut args)?,
            },
            "fileinto" => {
                self.need(Extension::FileInto, "fileinto", line)?;
                let copy = self.copy_tag(&mut args)?;
                let flags = self.flags_tag(&mut args)?;
                let mailbox = args.string("the folder to file into")?;
                if mailbox.is_empty() {
                    return Err(err(line, "fileinto: the folder name is empty"));
                }
                Command::FileInto {
                    mailbox,
                    copy,
                    flags,
                }
            }
            "redirect" => {
                let copy = self.copy_tag(&mut args)?;
                let address = args.string("the address to redirect to")?;
                if !address.contains("${") && !plausible_address(&address) {
                    return Err(err(
                        line,
                        format!("redirect: \"{address}\" is not an e-mail address"),
                    ));
                }
                Command::Redirect { address, copy }
            }
            "reject" => {
                self.need(Extension::Reject, "reject", line)?;
                Command::Reject {
                    reason: args.string("the reason for the rejection")?,
                }
            }
            "setflag" | "addflag" | "removeflag" => {
                self.need(Extension::Imap4Flags, &name, line)?;
                let op = match name.as_str() {
                    "setflag" => FlagOp::Set,
                    "addflag" => FlagOp::Add,
                    _ => FlagOp::Remove,
                };
                let first = args.strings("the flags")?;
                let (variable, flags) = match args.positional.is_empty() {
                    true => (None, first),
                    false => {
                        let variable = single(first, line, "the variable name")?;
                        self.need(Extension::Variables, "a flag variable", line)?;
                        check_variable_name(&variable, line)?;
                        (Some(variable), args.strings("the flags")?)
                    }
                };
                Command::Flags {
                    op,
                    variable,
                    flags,
                }
            }
            "vacation" => {
                self.need(Extension::Vacation, "vacation", line)?;
                let days = args.tag_number("days")?;
                if days == Some(0) {
                    return Err(err(
                        line,
                        "vacation: :days must be at least 1 (RFC 5230 §4.1)",
                    ));
                }
                let subject = args.tag_string("subject")?;
                let from = args.tag_string("from")?;
                let addresses = args.tag_strings("addresses")?.unwrap_or_default();
                let mime = args.flag("mime");
                let handle = args.tag_string("handle")?;
                Command::Vacation(Vacation {
                    days,
                    subject,
                    from,
                    addresses,
                    mime,
                    handle,
                    reason: args.string("the vacation reason")?,
                })
            }
            "set" => {
                self.need(Extension::Variables, "set", line)?;
                let mut modifiers = Vec::new();
                for (tag, modifier) in [
                    ("lower", Modifier::Lower),
                    ("upper", Modifier::Upper),
                    ("lowerfirst", Modifier::LowerFirst),
                    ("upperfirst", Modifier::UpperFirst),
                    ("quotewildcard", Modifier::QuoteWildcard),
                    ("length", Modifier::Length),
                ] {
                    if args.flag(tag) {
                        modifiers.push(modifier);
                    }
                }
                let name = args.string("the variable name")?;
                check_variable_name(&name, line)?;
                Command::Set {
                    modifiers,
                    name,
                    value: args.string("the value")?,
                }
            }
            other => {
                return Err(err(line, format!("unknown command '{other}'")));
            }
        };
        args.finish()?;
        Ok(command)
    }

    fn copy_tag(&self, args: &mut Args) -> Result<bool, ParseError> {
        let copy = args.flag("copy");
        if copy {
            self.need(Extension::Copy, ":copy", args.line)?;
        }
        Ok(copy)
    }

    fn flags_tag(&self, args: &mut Args) -> Result<Option<Vec<String>>, ParseError> {
        let flags = args.tag_strings("flags")?;
        if flags.is_some() {
            self.need(Extension::Imap4Flags, ":flags", args.line)?;
        }
        Ok(flags)
    }

    fn matcher(&self, args: &mut Args) -> Result<Matcher, ParseError> {
        let line = args.line;
        let mut matcher = Matcher::default();
        let mut kinds = 0;
        for (tag, kind) in [
            ("is", MatchType::Is),
            ("contains", MatchType::Contains),
            ("matches", MatchType::Matches),
        ] {
            if args.flag(tag) {
                matcher.match_type = kind;
                kinds += 1;
            }
        }
        for tag in ["count", "value"] {
            if let Some(relation) = args.tag_string(tag)? {
                self.need(Extension::Relational, &format!(":{tag}"), line)?;
                let relation = Relation::from_name(&relation).ok_or_else(|| {
                    err(
                        line,
                        format!(":{tag} \"{relation}\" is not one of gt, ge, lt, le, eq, ne"),
                    )
                })?;
                matcher.match_type = if tag == "count" {
                    MatchType::Count(relation)
                } else {
                    MatchType::Value(relation)
                };
                kinds += 1;
            }
        }
        if kinds > 1 {
            return Err(err(
                line,
                "only one match type (:is, :contains, :matches, :count, :value) may be given",
            ));
        }
        if let Some(name) = args.tag_string("comparator")? {
            matcher.comparator = match name.to_ascii_lowercase().as_str() {
                "i;octet" => Comparator::Octet,
                "i;ascii-casemap" => Comparator::AsciiCasemap,
                "i;ascii-numeric" => {
                    self.need(
                        Extension::AsciiNumeric,
                        "the i;ascii-numeric comparator",
                        line,
                    )?;
                    Comparator::AsciiNumeric
                }
                "i;unicode-casemap" => {
                    self.need(
                        Extension::UnicodeCasemap,
                        "the i;unicode-casemap comparator",
                        line,
                    )?;
                    Comparator::UnicodeCasemap
                }
                _ => return Err(err(line, format!("comparator \"{name}\" is not supported"))),
            };
        }
        Ok(matcher)
    }

    fn address_part(&self, args: &mut Args) -> Result<AddressPart, ParseError> {
        let mut part = AddressPart::All;
        let mut n = 0;
        for (tag, p) in [
            ("all", AddressPart::All),
            ("localpart", AddressPart::LocalPart),
            ("domain", AddressPart::Domain),
        ] {
            if args.flag(tag) {
                part = p;
                n += 1;
            }
        }
        if n > 1 {
            return Err(err(
                args.line,
                "only one of :all, :localpart, :domain may be given",
            ));
        }
        Ok(part)
    }

    fn test(&self, node: TestNode) -> Result<Test, ParseError> {
        let name = node.name.clone();
        let line = node.line;
        let mut args = Args::new(&name, line, node.arguments);
        let takes_tests = matches!(name.as_str(), "allof" | "anyof" | "not");
        if !takes_tests && !node.tests.is_empty() {
            return Err(err(
                line,
                format!("the test '{name}' takes no tests inside it"),
            ));
        }
        let test = match name.as_str() {
            "true" => Test::True,
            "false" => Test::False,
            "allof" | "anyof" => {
                if node.tests.is_empty() {
                    return Err(err(line, format!("'{name}' needs a list of tests in ( )")));
                }
                let tests = node
                    .tests
                    .into_iter()
                    .map(|t| self.test(t))
                    .collect::<Result<Vec<_>, _>>()?;
                if name == "allof" {
                    Test::AllOf(tests)
                } else {
                    Test::AnyOf(tests)
                }
            }
            "not" => {
                let mut tests = node.tests;
                if tests.len() != 1 {
                    return Err(err(line, "'not' takes exactly one test"));
                }
                Test::Not(Box::new(self.test(tests.remove(0))?))
            }
            "exists" => Test::Exists {
                headers: args.strings("the header names")?,
            },
            "size" => {
                let over = args.tag_number("over")?;
                let under = args.tag_number("under")?;
                match (over, under) {
                    (Some(limit), None) => Test::Size { over: true, limit },
                    (None, Some(limit)) => Test::Size { over: false, limit },
                    _ => {
                        return Err(err(
                            line,
                            "size needs exactly one of :over or :under with a number",
                        ));
                    }
                }
            }
            "header" => {
                let matcher = self.matcher(&mut args)?;
                Test::Header {
                    matcher,
                    headers: args.strings("the header names")?,
                    keys: args.strings("the keys")?,
                }
            }
            "address" => {
                let part = self.address_part(&mut args)?;
                let matcher = self.matcher(&mut args)?;
                Test::Address {
                    part,
                    matcher,
                    headers: args.strings("the header names")?,
                    keys: args.strings("the keys")?,
                }
            }
            "envelope" => {
                self.need(Extension::Envelope, "envelope", line)?;
                let part = self.address_part(&mut args)?;
                let matcher = self.matcher(&mut args)?;
                let fields = args.strings("the envelope parts")?;
                for field in &fields {
                    if !field.eq_ignore_ascii_case("from") && !field.eq_ignore_ascii_case("to") {
                        return Err(err(
                            line,
                            format!("envelope part \"{field}\" is not \"from\" or \"to\""),
                        ));
                    }
                }
                Test::Envelope {
                    part,
                    matcher,
                    fields,
                    keys: args.strings("the keys")?,
                }
            }
            "body" => {
                self.need(Extension::Body, "body", line)?;
                let matcher = self.matcher(&mut args)?;
                let transform = if args.flag("raw") {
                    BodyTransform::Raw
                } else if let Some(types) = args.tag_strings("content")? {
                    BodyTransform::Content(types)
                } else {
                    args.flag("text");
                    BodyTransform::Text
                };
                Test::Body {
                    matcher,
                    transform,
                    keys: args.strings("the keys")?,
                }
            }
            "string" => {
                self.need(Extension::Variables, "string", line)?;
                let matcher = self.matcher(&mut args)?;
                Test::String {
                    matcher,
                    sources: args.strings("the source strings")?,
                    keys: args.strings("the keys")?,
                }
            }
            "hasflag" => {
                self.need(Extension::Imap4Flags, "hasflag", line)?;
                let matcher = self.matcher(&mut args)?;
                let first = args.strings("the flags")?;
                let (variables, flags) = if args.positional.is_empty() {
                    (Vec::new(), first)
                } else {
                    self.need(Extension::Variables, "a flag variable", line)?;
                    for v in &first {
                        check_variable_name(v, line)?;
                    }
                    (first, args.strings("the flags")?)
                };
                Test::HasFlag {
                    matcher,
                    variables,
                    flags,
                }
            }
            other => return Err(err(line, format!("unknown test '{other}'"))),
        };
        args.finish()?;
        Ok(test)
    }
}

fn err(line: u32, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

fn no_tests_or_block(
    name: &str,
    line: u32,
    tests: &[TestNode],
    block: &Option<Vec<CommandNode>>,
) -> Result<(), ParseError> {
    if !tests.is_empty() {
        return Err(err(line, format!("'{name}' takes no test")));
    }
    if block.is_some() {
        return Err(err(
            line,
            format!("'{name}' takes no block; end it with ';'"),
        ));
    }
    Ok(())
}

fn single(mut values: Vec<String>, line: u32, what: &str) -> Result<String, ParseError> {
    if values.len() != 1 {
        return Err(err(line, format!("{what} must be a single string")));
    }
    Ok(values.remove(0))
}

/// RFC 5229 §3: identifier = (ALPHA / "_") *(ALPHA / DIGIT / "_"), optionally
/// namespaced with "."; numeric match variables cannot be set.
fn check_variable_name(name: &str, line: u32) -> Result<(), ParseError> {
    let ok = !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(err(
            line,
            format!("\"{name}\" is not a valid variable name"),
        ))
    }
}

/// RFC 5228 §4.2 wants a valid RFC 5322 address; this is the structural check that needs no
/// policy: one "@", a non-empty local part, a dotted domain, no spaces or angle brackets.
fn plausible_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','))
}

/// The arguments of one command or test: tags are looked up by name, positional arguments
/// are taken in order, and `finish` refuses whatever was not consumed.
struct Args {
    command: String,
    line: u32,
    /// Tags with their position in the original list.
    tags: Vec<(usize, String)>,
    /// Everything that is not a tag nor a tag's parameter, in order.
    positional: std::collections::VecDeque<Argument>,
    raw: Vec<Option<Argument>>,
}

impl Args {
    fn new(command: &str, line: u32, arguments: Vec<Argument>) -> Args {
        let tags = arguments
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a {
                Argument::Tag(t) => Some((i, t.clone())),
                _ => None,
            })
            .collect();
        Args {
            command: command.to_string(),
            line,
            tags,
            positional: Default::default(),
            raw: arguments.into_iter().map(Some).collect(),
        }
    }

    /// Removes the tag `name` if present; returns its index in `raw`.
    fn take_tag(&mut self, name: &str) -> Option<usize> {
        let at = self.tags.iter().position(|(_, t)| t == name)?;
        let (index, _) = self.tags.remove(at);
        if let Some(slot) = self.raw.get_mut(index) {
            *slot = None;
        }
        Some(index)
    }

    fn flag(&mut self, name: &str) -> bool {
        self.take_tag(name).is_some()
    }

    fn tag_parameter(&mut self, name: &str) -> Result<Option<Argument>, ParseError> {
        let Some(index) = self.take_tag(name) else {
            return Ok(None);
        };
        match self.raw.get_mut(index + 1).and_then(Option::take) {
            Some(Argument::Tag(_)) | None => Err(err(
                self.line,
                format!("{}: :{name} must be followed by its value", self.command),
            )),
            Some(value) => Ok(Some(value)),
        }
    }

    fn tag_number(&mut self, name: &str) -> Result<Option<u64>, ParseError> {
        match self.tag_parameter(name)? {
            None => Ok(None),
            Some(Argument::Number(n)) => Ok(Some(n)),
            Some(_) => Err(err(
                self.line,
                format!("{}: :{name} takes a number", self.command),
            )),
        }
    }

    fn tag_strings(&mut self, name: &str) -> Result<Option<Vec<String>>, ParseError> {
        match self.tag_parameter(name)? {
            None => Ok(None),
            Some(Argument::Strings { values, .. }) => Ok(Some(values)),
            Some(_) => Err(err(
                self.line,
                format!("{}: :{name} takes a string or a string list", self.command),
            )),
        }
    }

    fn tag_string(&mut self, name: &str) -> Result<Option<String>, ParseError> {
        match self.tag_parameter(name)? {
            None => Ok(None),
            Some(Argument::Strings { mut values, .. }) if values.len() == 1 => {
                Ok(Some(values.remove(0)))
            }
            Some(_) => Err(err(
                self.line,
                format!("{}: :{name} takes one string", self.command),
            )),
        }
    }

    /// Moves what is left (after tags were taken) into the positional queue, once.
    fn settle(&mut self) -> Result<(), ParseError> {
        if let Some((_, tag)) = self.tags.first() {
            return Err(err(
                self.line,
                format!("{}: unknown or misplaced tag :{tag}", self.command),
            ));
        }
        let rest: Vec<Argument> = self.raw.drain(..).flatten().collect();
        self.positional.extend(rest);
        Ok(())
    }

    fn next_positional(&mut self, what: &str) -> Result<Argument, ParseError> {
        self.settle()?;
        self.positional
            .pop_front()
            .ok_or_else(|| err(self.line, format!("{}: missing {what}", self.command)))
    }

    fn strings(&mut self, what: &str) -> Result<Vec<String>, ParseError> {
        match self.next_positional(what)? {
            Argument::Strings { values, .. } => Ok(values),
            _ => Err(err(
                self.line,
                format!("{}: {what} must be a string or a string list", self.command),
            )),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, ParseError> {
        match self.next_positional(what)? {
            Argument::Strings {
                mut values,
                single: true,
            } if values.len() == 1 => Ok(values.remove(0)),
            _ => Err(err(
                self.line,
                format!("{}: {what} must be a single string", self.command),
            )),
        }
    }

    fn finish(mut self) -> Result<(), ParseError> {
        self.settle()?;
        if !self.positional.is_empty() {
            return Err(err(
                self.line,
                format!("{}: too many arguments", self.command),
            ));
        }
        Ok(())
    }
}
