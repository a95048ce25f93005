//! Sieve mail filtering scripts (RFC 5228): bytes to a checked, typed script.
//!
//! `parse` is what ManageSieve PUTSCRIPT/CHECKSCRIPT and delivery both call: lexing
//! (`lexer`), the generic grammar (`syntax`) and the meaning of commands and tests with
//! their extensions (`script`). Running a script against a message is the pipeline's job.
//!
//! Hand-written because the only complete Rust Sieve crate (sieve-rs) is AGPL, see CRATES.md.
//! Invariant: no input makes the parser panic, recurse without bound, or allocate much more
//! than the script's own size; `MAX_SCRIPT_SIZE` bounds that size.

mod lexer;
mod script;
mod syntax;

pub use script::{
    AddressPart, BodyTransform, Command, Comparator, Extension, FlagOp, MatchType, Matcher,
    Modifier, Relation, Script, Test, Vacation,
};

/// Largest script accepted: a filter is a few hundred bytes; 64 KiB leaves room for long
/// vacation texts. ManageSieve PUTSCRIPT answers `NO (QUOTA/MAXSIZE)` above it (RFC 5804 §2.6).
pub const MAX_SCRIPT_SIZE: usize = 64 * 1024;

/// A script error with the line it was found on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: u32,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses and checks a whole script.
pub fn parse(script: &[u8]) -> Result<Script, ParseError> {
    if script.len() > MAX_SCRIPT_SIZE {
        return Err(ParseError {
            line: 1,
            message: format!(
                "the script is {} bytes; the limit is {MAX_SCRIPT_SIZE}",
                script.len()
            ),
        });
    }
    // RFC 5228 §2.2: scripts are UTF-8.
    let text = std::str::from_utf8(script).map_err(|e| ParseError {
        line: 1 + script[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u32,
        message: "the script is not valid UTF-8".into(),
    })?;
    let tokens = lexer::tokenize(text)?;
    let nodes = syntax::parse_commands(&tokens)?;
    script::build(nodes)
}

#[cfg(test)]
mod tests;
