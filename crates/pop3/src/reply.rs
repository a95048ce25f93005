//! Status lines (RFC 1939 §3: `+OK` or `-ERR`, then text) with the RFC 2449 §8 / RFC 3206
//! response codes, and the one place where store errors become replies.
//!
//! Keeps true: reply text is ours, never an echo of client input, and holds no CR or LF, so
//! a reply is always exactly one line.

use congvu_store::StoreError;

/// Extended response codes (RFC 2449 §8, RFC 3206), advertised by CAPA RESP-CODES and
/// AUTH-RESP-CODE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// RFC 2449 §8.1.2: the maildrop is open in another session.
    InUse,
    /// RFC 3206 §4: the failure is about the credentials (or their use without TLS).
    Auth,
    /// RFC 3206 §5: a temporary system problem; trying later may work.
    SysTemp,
    /// RFC 3206 §5: a permanent problem the user should report to the administrator.
    SysPerm,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::InUse => "IN-USE",
            Code::Auth => "AUTH",
            Code::SysTemp => "SYS/TEMP",
            Code::SysPerm => "SYS/PERM",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Ok(String),
    Err(Option<Code>, String),
}

impl Reply {
    pub(crate) fn ok(text: impl Into<String>) -> Reply {
        Reply::Ok(text.into())
    }

    pub(crate) fn err(text: impl Into<String>) -> Reply {
        Reply::Err(None, text.into())
    }

    pub(crate) fn err_code(code: Code, text: impl Into<String>) -> Reply {
        Reply::Err(Some(code), text.into())
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        let (status, code, text) = match self {
            Reply::Ok(text) => ("+OK", None, text),
            Reply::Err(code, text) => ("-ERR", *code, text),
        };
        out.extend_from_slice(status.as_bytes());
        if let Some(code) = code {
            out.extend_from_slice(b" [");
            out.extend_from_slice(code.as_str().as_bytes());
            out.push(b']');
        }
        if !text.is_empty() {
            out.push(b' ');
            // Keep the reply on one line whatever the text holds.
            out.extend(
                text.bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Every store failure as the client sees it.
pub(crate) fn store_failure(error: &StoreError) -> Reply {
    tracing::warn!(%error, "pop3 store failure");
    match error {
        StoreError::Unavailable(_) => Reply::err_code(
            Code::SysTemp,
            "The mail store is unavailable; please try again in a few minutes.",
        ),
        StoreError::NotFound(_) => Reply::err_code(
            Code::SysTemp,
            "The mailbox changed while it was being read; please try again.",
        ),
        StoreError::AlreadyExists(_) | StoreError::Invalid(_) => Reply::err_code(
            Code::SysPerm,
            "The mail store refused the operation; please tell the administrator.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(reply: Reply) -> String {
        let mut out = Vec::new();
        reply.write_to(&mut out);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn replies_are_single_lines_with_codes() {
        assert_eq!(line(Reply::ok("2 messages")), "+OK 2 messages\r\n");
        assert_eq!(line(Reply::ok("")), "+OK\r\n");
        assert_eq!(
            line(Reply::err_code(Code::InUse, "busy")),
            "-ERR [IN-USE] busy\r\n"
        );
        assert_eq!(line(Reply::err("a\r\nb")), "-ERR a  b\r\n");
    }
}
