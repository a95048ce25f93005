//! The TOTP second factor (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 6 digits, 30-second steps,
//! one step of skew either way, which is what every authenticator app shows by default.
//!
//! Pure: the secret and the clock are parameters. Keeps true: [`check_code`] returns the time
//! step it matched so the caller can accept each step only once (RFC 6238 §5.2); it never
//! panics on what a user typed.

use totp_rs::{Algorithm, Builder, Totp};

/// 160 bits, the length RFC 4226 §4 recommends.
pub const SECRET_LEN: usize = 20;
/// RFC 6238 §5.2: 30 seconds is the recommended step.
pub const STEP_SECONDS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("the TOTP secret is not usable: {0}")]
    Secret(String),
}

fn totp(secret: &[u8], issuer: Option<&str>, account: &str) -> Result<Totp, TotpError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret)
        .with_issuer(issuer)
        .with_account_name(account)
        .build()
        .map_err(|e| TotpError::Secret(e.to_string()))
}

/// The time step whose code `code` is, within one step of `now` (seconds), or `None`.
/// Spaces inside the code ("123 456", as apps show it) are ignored.
pub fn check_code(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, None, "").ok()?;
    let now = u64::try_from(now).ok()?;
    totp.check(&code, now)
        .and_then(|step| i64::try_from(step).ok())
}

/// The code an authenticator app shows at `now` (for tests and the CLI's own check).
pub fn code_at(secret: &[u8], now: i64) -> Result<String, TotpError> {
    let now = u64::try_from(now).map_err(|_| TotpError::Secret("time before 1970".into()))?;
    Ok(totp(secret, None, "")?.generate(now).to_string())
}

/// The `otpauth://totp/…` URI an authenticator app imports (as a QR code or pasted).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> Result<String, TotpError> {
    totp(secret, Some(issuer), account)?
        .to_url()
        .map_err(|e| TotpError::Secret(e.to_string()))
}

/// The secret in base32 (RFC 4648 §6, no padding), for typing into an app by hand.
pub fn secret_base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret).to_base32()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA1 rows (8 digits there; the last 6 digits are the 6-digit code,
    /// since the code is the truncated value modulo 10^digits).
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(secret, time).unwrap(), eight[2..], "t={time}");
            assert_eq!(check_code(secret, &eight[2..], time), Some(time / 30));
        }
    }

    #[test]
    fn skew_and_bad_input() {
        let secret = [7u8; SECRET_LEN];
        let t = 1_700_000_000;
        let code = code_at(&secret, t).unwrap();
        assert_eq!(check_code(&secret, &code, t + 30), Some(t / 30));
        assert_eq!(check_code(&secret, &code, t - 30), Some(t / 30));
        assert_eq!(check_code(&secret, &code, t + 90), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(check_code(&secret, &spaced, t), Some(t / 30));
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６", "-1"] {
            assert_eq!(check_code(&secret, bad, t), None, "{bad:?}");
        }
        assert_eq!(check_code(&secret, &code, -5), None);
    }

    #[test]
    fn uri_names_issuer_and_account() {
        let uri = otpauth_uri(&[1u8; SECRET_LEN], "congvu", "annv@tinh.gov.vn").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("issuer=congvu"), "{uri}");
        assert!(uri.contains(&secret_base32(&[1u8; SECRET_LEN])), "{uri}");
    }
}
