//! Requests and their approval (R-ACC-6): a unit IT contact files a request for a mailbox of
//! their unit (or a unit below it); the operator approves or rejects it; an approved request is
//! carried out by the system.
//!
//! Keeps true: a request is decided once. Only a pending request can be approved or rejected;
//! an approved one ends as done or failed (with the reason), never back to pending. Who may
//! file and who may decide are pure functions of the roles, tested here.

use crate::unit::{UnitId, UnitNode, is_within};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A new personal mailbox in a unit.
    NewMailbox,
    /// Change of details (name, title, phone, unit).
    Change,
    /// Reset of the password.
    Reset,
    Suspend,
    Revoke,
    Restore,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::NewMailbox => "new-mailbox",
            RequestKind::Change => "change",
            RequestKind::Reset => "reset",
            RequestKind::Suspend => "suspend",
            RequestKind::Revoke => "revoke",
            RequestKind::Restore => "restore",
        }
    }

    /// Accepts the stored token and the short `new`.
    pub fn from_token(token: &str) -> Option<Self> {
        Some(match token {
            "new-mailbox" | "new" => RequestKind::NewMailbox,
            "change" => RequestKind::Change,
            "reset" | "reset-password" => RequestKind::Reset,
            "suspend" => RequestKind::Suspend,
            "revoke" => RequestKind::Revoke,
            "restore" => RequestKind::Restore,
            _ => return None,
        })
    }

    /// Whether the request names an existing mailbox (all but a new one do).
    pub fn needs_mailbox(self) -> bool {
        self != RequestKind::NewMailbox
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    /// Approved and carried out.
    Done,
    /// Approved, but carrying it out failed (the reason is kept with the request).
    Failed,
    Rejected,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Done => "done",
            RequestStatus::Failed => "failed",
            RequestStatus::Rejected => "rejected",
        }
    }

    pub fn from_token(token: &str) -> Option<Self> {
        [
            RequestStatus::Pending,
            RequestStatus::Done,
            RequestStatus::Failed,
            RequestStatus::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == token)
    }
}

/// The roles of R-ACC-6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The province's operator: everything.
    Operator,
    /// IT contact of these units: their units and the units below them.
    UnitContact(Vec<UnitId>),
    /// Anyone else: only themselves.
    User,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::UnitContact(_) => "unit-contact",
            Role::User => "user",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("only a unit IT contact or the operator can file requests")]
    NotAContact,
    #[error("the requester is not an IT contact of this unit or of a unit above it")]
    OutsideUnits,
    #[error("the mailbox belongs to no unit; only the operator can file requests for it")]
    NoUnit,
    #[error("only the operator can approve or reject requests")]
    NotOperator,
    #[error("the request is already {}", .0.as_str())]
    AlreadyDecided(RequestStatus),
}

/// Whether someone with `role` may file a request about a mailbox of `unit` (`None`: the
/// mailbox belongs to no unit).
pub fn check_filing(
    role: &Role,
    unit: Option<UnitId>,
    tree: &[UnitNode],
) -> Result<(), RequestError> {
    match role {
        Role::Operator => Ok(()),
        Role::User => Err(RequestError::NotAContact),
        Role::UnitContact(own) => {
            let unit = unit.ok_or(RequestError::NoUnit)?;
            if own.iter().any(|&u| is_within(tree, unit, u)) {
                Ok(())
            } else {
                Err(RequestError::OutsideUnits)
            }
        }
    }
}

/// Whether someone with `role` may decide a request now in `status`.
pub fn check_decision(role: &Role, status: RequestStatus) -> Result<(), RequestError> {
    if *role != Role::Operator {
        return Err(RequestError::NotOperator);
    }
    if status != RequestStatus::Pending {
        return Err(RequestError::AlreadyDecided(status));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::UnitKind;

    fn tree() -> Vec<UnitNode> {
        let n = |id, parent, kind| UnitNode {
            id,
            parent,
            kind,
            name: String::new(),
        };
        vec![
            n(1, None, UnitKind::Province),
            n(2, Some(1), UnitKind::District),
            n(3, Some(2), UnitKind::Commune),
            n(4, Some(1), UnitKind::Department),
        ]
    }

    #[test]
    fn who_may_file() {
        let t = tree();
        let district_contact = Role::UnitContact(vec![2]);
        assert_eq!(check_filing(&Role::Operator, None, &t), Ok(()));
        assert_eq!(check_filing(&district_contact, Some(2), &t), Ok(()));
        assert_eq!(check_filing(&district_contact, Some(3), &t), Ok(()));
        assert_eq!(
            check_filing(&district_contact, Some(4), &t),
            Err(RequestError::OutsideUnits)
        );
        assert_eq!(
            check_filing(&district_contact, Some(1), &t),
            Err(RequestError::OutsideUnits)
        );
        assert_eq!(
            check_filing(&district_contact, None, &t),
            Err(RequestError::NoUnit)
        );
        assert_eq!(
            check_filing(&Role::User, Some(3), &t),
            Err(RequestError::NotAContact)
        );
    }

    #[test]
    fn decided_once_by_the_operator() {
        assert_eq!(
            check_decision(&Role::Operator, RequestStatus::Pending),
            Ok(())
        );
        assert_eq!(
            check_decision(&Role::UnitContact(vec![1]), RequestStatus::Pending),
            Err(RequestError::NotOperator)
        );
        for s in [
            RequestStatus::Done,
            RequestStatus::Failed,
            RequestStatus::Rejected,
        ] {
            assert_eq!(
                check_decision(&Role::Operator, s),
                Err(RequestError::AlreadyDecided(s))
            );
        }
    }

    #[test]
    fn tokens() {
        assert_eq!(
            RequestKind::from_token("new"),
            Some(RequestKind::NewMailbox)
        );
        for k in [
            RequestKind::NewMailbox,
            RequestKind::Change,
            RequestKind::Reset,
            RequestKind::Suspend,
            RequestKind::Revoke,
            RequestKind::Restore,
        ] {
            assert_eq!(RequestKind::from_token(k.as_str()), Some(k));
        }
        assert_eq!(RequestKind::from_token("delete"), None);
        assert_eq!(
            RequestStatus::from_token("pending"),
            Some(RequestStatus::Pending)
        );
    }
}
