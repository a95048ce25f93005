//! The completion of a command (its tagged response) and the one place where store errors
//! become IMAP response codes (RFC 5530).

use crate::response::Status;
use congvu_store::StoreError;

/// What the tagged response of a command says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub status: Status,
    pub code: Option<String>,
    pub text: String,
}

/// Commands return `Ok(done)` or `Err(done)`; both become the tagged response, `Err` lets `?`
/// carry a store error out of a command.
pub type CmdResult = Result<Done, Done>;

impl Done {
    pub fn ok(text: impl Into<String>) -> Done {
        Done {
            status: Status::Ok,
            code: None,
            text: text.into(),
        }
    }
    pub fn ok_code(code: impl Into<String>, text: impl Into<String>) -> Done {
        Done {
            status: Status::Ok,
            code: Some(code.into()),
            text: text.into(),
        }
    }
    pub fn no(code: Option<&str>, text: impl Into<String>) -> Done {
        Done {
            status: Status::No,
            code: code.map(str::to_string),
            text: text.into(),
        }
    }
    pub fn bad(text: impl Into<String>) -> Done {
        Done {
            status: Status::Bad,
            code: None,
            text: text.into(),
        }
    }
}

impl From<StoreError> for Done {
    fn from(e: StoreError) -> Done {
        match e {
            StoreError::NotFound(what) => {
                Done::no(Some("NONEXISTENT"), format!("{what} does not exist"))
            }
            StoreError::AlreadyExists(what) => {
                Done::no(Some("ALREADYEXISTS"), format!("{what} already exists"))
            }
            StoreError::Invalid(why) => Done::no(Some("CANNOT"), why),
            StoreError::Unavailable(why) => {
                tracing::warn!(%why, "store unavailable");
                Done::no(Some("UNAVAILABLE"), "storage unavailable, try again later")
            }
        }
    }
}
