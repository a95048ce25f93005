//! The generic Sieve grammar (RFC 5228 §8.2): commands with arguments, tests and blocks,
//! before any meaning is given to names. `script.rs` turns this into typed commands.
//!
//! Invariant: nesting is bounded (`MAX_NESTING`) so a hostile script cannot overflow the
//! stack of the recursive-descent parser.

use super::ParseError;
use super::lexer::{Spanned, Token};

/// Blocks and tests nested deeper than this are refused. Real filters nest two or three
/// levels; 32 leaves room while keeping recursion far from the thread's stack limit.
pub const MAX_NESTING: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Argument {
    /// A single string or a bracketed list (§2.4.2.1); `single` says which was written.
    Strings {
        values: Vec<String>,
        single: bool,
    },
    Number(u64),
    Tag(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestNode {
    pub name: String,
    pub line: u32,
    pub arguments: Vec<Argument>,
    pub tests: Vec<TestNode>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandNode {
    pub name: String,
    pub line: u32,
    pub arguments: Vec<Argument>,
    pub tests: Vec<TestNode>,
    /// `Some` when the command ends with a block rather than ";".
    pub block: Option<Vec<CommandNode>>,
}

pub fn parse_commands(tokens: &[Spanned]) -> Result<Vec<CommandNode>, ParseError> {
    let mut parser = Parser { tokens, pos: 0 };
    let commands = parser.commands(0)?;
    if let Some(extra) = parser.tokens.get(parser.pos) {
        return Err(ParseError {
            line: extra.line,
            message: "unexpected '}' with no block open".into(),
        });
    }
    Ok(commands)
}

struct Parser<'a> {
    tokens: &'a [Spanned],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|s| &s.token)
    }

    fn line(&self) -> u32 {
        self.tokens
            .get(self.pos)
            .or_else(|| self.tokens.last())
            .map(|s| s.line)
            .unwrap_or(1)
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line(),
            message: message.into(),
        }
    }

    fn too_deep(&self, depth: usize) -> Result<(), ParseError> {
        if depth > MAX_NESTING {
            return Err(self.error(format!(
                "blocks and tests are nested more than {MAX_NESTING} levels deep"
            )));
        }
        Ok(())
    }

    /// commands = *command, up to a "}" or the end.
    fn commands(&mut self, depth: usize) -> Result<Vec<CommandNode>, ParseError> {
        self.too_deep(depth)?;
        let mut out = Vec::new();
        while let Some(token) = self.peek() {
            match token {
                Token::RightBrace => break,
                Token::Identifier(_) => out.push(self.command(depth)?),
                other => {
                    return Err(self.error(format!(
                        "expected a command name, found {}",
                        describe(other)
                    )));
                }
            }
        }
        Ok(out)
    }

    fn command(&mut self, depth: usize) -> Result<CommandNode, ParseError> {
        let line = self.line();
        let Some(Token::Identifier(name)) = self.peek().cloned() else {
            return Err(self.error("expected a command name"));
        };
        self.pos += 1;
        let arguments = self.arguments()?;
        let tests = self.tests(depth)?;
        let block = match self.peek() {
            Some(Token::Semicolon) => {
                self.pos += 1;
                None
            }
            Some(Token::LeftBrace) => {
                self.pos += 1;
                let inner = self.commands(depth + 1)?;
                match self.peek() {
                    Some(Token::RightBrace) => self.pos += 1,
                    _ => {
                        return Err(ParseError {
                            line,
                            message: format!("the block of '{name}' is never closed with '}}'"),
                        });
                    }
                }
                Some(inner)
            }
            Some(other) => {
                return Err(self.error(format!(
                    "expected ';' or a block after '{name}', found {}",
                    describe(other)
                )));
            }
            None => {
                return Err(self.error(format!("'{name}' must end with ';'")));
            }
        };
        Ok(CommandNode {
            name,
            line,
            arguments,
            tests,
            block,
        })
    }

    /// *argument: string lists, numbers and tags.
    fn arguments(&mut self) -> Result<Vec<Argument>, ParseError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(Token::String(s)) => {
                    out.push(Argument::Strings {
                        values: vec![s.clone()],
                        single: true,
                    });
                    self.pos += 1;
                }
                Some(Token::Number(n)) => {
                    out.push(Argument::Number(*n));
                    self.pos += 1;
                }
                Some(Token::Tag(t)) => {
                    out.push(Argument::Tag(t.clone()));
                    self.pos += 1;
                }
                Some(Token::LeftBracket) => {
                    self.pos += 1;
                    out.push(Argument::Strings {
                        values: self.string_list()?,
                        single: false,
                    });
                }
                _ => return Ok(out),
            }
        }
    }

    /// After "[": string *("," string) "]".
    fn string_list(&mut self) -> Result<Vec<String>, ParseError> {
        let mut values = Vec::new();
        loop {
            match self.peek() {
                Some(Token::String(s)) => {
                    values.push(s.clone());
                    self.pos += 1;
                }
                _ => return Err(self.error("a string list must hold quoted strings")),
            }
            match self.peek() {
                Some(Token::Comma) => self.pos += 1,
                Some(Token::RightBracket) => {
                    self.pos += 1;
                    return Ok(values);
                }
                _ => return Err(self.error("expected ',' or ']' in a string list")),
            }
        }
    }

    /// [test / test-list] after the arguments of a command or a test.
    fn tests(&mut self, depth: usize) -> Result<Vec<TestNode>, ParseError> {
        match self.peek() {
            Some(Token::Identifier(_)) => Ok(vec![self.test(depth + 1)?]),
            Some(Token::LeftParen) => {
                self.pos += 1;
                let mut tests = Vec::new();
                loop {
                    tests.push(self.test(depth + 1)?);
                    match self.peek() {
                        Some(Token::Comma) => self.pos += 1,
                        Some(Token::RightParen) => {
                            self.pos += 1;
                            return Ok(tests);
                        }
                        _ => return Err(self.error("expected ',' or ')' in a test list")),
                    }
                }
            }
            _ => Ok(Vec::new()),
        }
    }

    fn test(&mut self, depth: usize) -> Result<TestNode, ParseError> {
        self.too_deep(depth)?;
        let line = self.line();
        let Some(Token::Identifier(name)) = self.peek().cloned() else {
            return Err(self.error("expected a test name"));
        };
        self.pos += 1;
        let arguments = self.arguments()?;
        let tests = self.tests(depth)?;
        Ok(TestNode {
            name,
            line,
            arguments,
            tests,
        })
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Identifier(s) => format!("'{s}'"),
        Token::Tag(s) => format!("':{s}'"),
        Token::Number(n) => format!("the number {n}"),
        Token::String(_) => "a string".into(),
        Token::Semicolon => "';'".into(),
        Token::Comma => "','".into(),
        Token::LeftParen => "'('".into(),
        Token::RightParen => "')'".into(),
        Token::LeftBrace => "'{'".into(),
        Token::RightBrace => "'}'".into(),
        Token::LeftBracket => "'['".into(),
        Token::RightBracket => "']'".into(),
    }
}
