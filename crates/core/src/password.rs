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
