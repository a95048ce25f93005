//! Password hashing (R-POL-2: nobody, the operator included, can read a password).
//!
//! Argon2id in the PHC string format. The salt is a parameter so that this module stays pure;
//! the caller draws it from the OS random source.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Hashes a password with Argon2id (default parameters of the argon2 crate: m=19 MiB, t=2, p=1,
/// the OWASP baseline).
pub fn hash_password(password: &str, salt16: &[u8; 16]) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), salt16)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Checks a password against a stored PHC string; a malformed hash never verifies.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("Mật-khẩu-1", &[7u8; 16]).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Mật-khẩu-1", &h));
        assert!(!verify_password("mật-khẩu-1", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}

/// R-POL-1: the rules a new password must meet. Users need 8 characters, administrators 10;
/// both need lowercase, uppercase, a digit and a special character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordRules {
    pub min_length: usize,
}

impl PasswordRules {
    pub const USER: PasswordRules = PasswordRules { min_length: 8 };
    pub const ADMIN: PasswordRules = PasswordRules { min_length: 10 };

    /// Every rule the password breaks, as English sentences (empty when it is acceptable).
    /// Length counts characters, not bytes, so Vietnamese letters count once.
    pub fn violations(&self, password: &str) -> Vec<String> {
        let mut out = Vec::new();
        if password.chars().count() < self.min_length {
            out.push(format!(
                "it must have at least {} characters",
                self.min_length
            ));
        }
        if !password.chars().any(char::is_lowercase) {
            out.push("it must contain a lowercase letter".to_string());
        }
        if !password.chars().any(char::is_uppercase) {
            out.push("it must contain an uppercase letter".to_string());
        }
        if !password.chars().any(|c| c.is_ascii_digit()) {
            out.push("it must contain a digit".to_string());
        }
        if !password
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
        {
            out.push("it must contain a special character such as ! @ # $ %".to_string());
        }
        out
    }
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    #[test]
    fn names_every_broken_rule() {
        assert!(PasswordRules::USER.violations("Demo@2026").is_empty());
        assert_eq!(PasswordRules::USER.violations("abc").len(), 4);
        assert_eq!(
            PasswordRules::ADMIN.violations("Demo@2026"),
            vec!["it must have at least 10 characters"]
        );
        // Vietnamese letters count as letters and as one character each.
        assert!(PasswordRules::USER.violations("Mậtkhẩu#9").is_empty());
    }
}
