//! Webhook signatures: `X-Signature-256: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`
//! with `X-Signature-Timestamp: <unix seconds>`. The timestamp is inside the MAC, so a captured
//! request cannot be replayed outside the tolerance window.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-signature-256";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// Accepted clock difference between sender and receiver.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("header X-Signature-256 is missing")]
    MissingSignature,
    #[error("header X-Signature-Timestamp is missing")]
    MissingTimestamp,
    #[error("header X-Signature-Timestamp must be unix seconds, got {0:?}")]
    BadTimestamp(String),
    #[error(
        "header X-Signature-Timestamp is {skew_secs} s away from now; at most {TOLERANCE_SECS} s is accepted"
    )]
    Stale { skew_secs: i64 },
    #[error("header X-Signature-256 must be \"sha256=\" followed by 64 hex characters")]
    BadFormat,
    #[error("signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Signature-256` header value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp.to_string(), body).finalize().into_bytes();
    format!("sha256={}", hex::encode(tag))
}

/// Checks a request's signature headers against `body`, with `now` in unix seconds.
/// The comparison is constant-time (`Mac::verify_slice`).
pub fn verify(
    secret: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::MissingSignature)?;
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
    let ts: i64 = timestamp.parse().map_err(|_| SignatureError::BadTimestamp(timestamp.to_string()))?;
    let skew = now - ts;
    if skew.abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale { skew_secs: skew });
    }
    let hex_tag = signature.trim().strip_prefix("sha256=").ok_or(SignatureError::BadFormat)?;
    let tag = hex::decode(hex_tag).map_err(|_| SignatureError::BadFormat)?;
    if tag.len() != 32 {
        return Err(SignatureError::BadFormat);
    }
    mac(secret, timestamp, body).verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    #[test]
    fn signed_body_verifies() {
        let sig = sign(b"s3cret", NOW, b"{\"a\":1}");
        assert_eq!(verify(b"s3cret", Some(&sig), Some(&NOW.to_string()), b"{\"a\":1}", NOW + 10), Ok(()));
    }

    #[test]
    fn tampering_and_staleness_are_caught() {
        let sig = sign(b"s3cret", NOW, b"body");
        let ts = NOW.to_string();
        assert_eq!(verify(b"s3cret", Some(&sig), Some(&ts), b"bodY", NOW), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", Some(&sig), Some(&ts), b"body", NOW), Err(SignatureError::Mismatch));
        // The timestamp is signed: moving it breaks the MAC even inside the window.
        assert_eq!(
            verify(b"s3cret", Some(&sig), Some(&(NOW + 1).to_string()), b"body", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"s3cret", Some(&sig), Some(&ts), b"body", NOW + 301),
            Err(SignatureError::Stale { skew_secs: 301 })
        );
        assert_eq!(verify(b"s3cret", None, Some(&ts), b"body", NOW), Err(SignatureError::MissingSignature));
        assert_eq!(verify(b"s3cret", Some(&sig), None, b"body", NOW), Err(SignatureError::MissingTimestamp));
        assert_eq!(
            verify(b"s3cret", Some("md5=00"), Some(&ts), b"body", NOW),
            Err(SignatureError::BadFormat)
        );
        assert!(matches!(
            verify(b"s3cret", Some(&sig), Some("yesterday"), b"body", NOW),
            Err(SignatureError::BadTimestamp(_))
        ));
    }

    #[test]
    fn the_window_holds_both_ways_to_the_second() {
        let ts = NOW.to_string();
        let sig = sign(b"s3cret", NOW, b"body");
        // Exactly the tolerance, late or early: accepted.
        assert_eq!(verify(b"s3cret", Some(&sig), Some(&ts), b"body", NOW + TOLERANCE_SECS), Ok(()));
        assert_eq!(verify(b"s3cret", Some(&sig), Some(&ts), b"body", NOW - TOLERANCE_SECS), Ok(()));
        // A second more in the past is stale; so is a timestamp a second more in the *future*
        // (a sender's clock ahead, or a request forged to stay valid longer).
        assert_eq!(
            verify(b"s3cret", Some(&sig), Some(&ts), b"body", NOW - TOLERANCE_SECS - 1),
            Err(SignatureError::Stale { skew_secs: -TOLERANCE_SECS - 1 })
        );
        assert_eq!(
            verify(b"s3cret", Some(&sig), Some(&ts), b"body", NOW + TOLERANCE_SECS + 1),
            Err(SignatureError::Stale { skew_secs: TOLERANCE_SECS + 1 })
        );
    }

    #[test]
    fn a_tag_of_the_wrong_length_is_malformed_not_a_mismatch() {
        let ts = NOW.to_string();
        let full = sign(b"s3cret", NOW, b"body");
        let short = &full[..full.len() - 2];
        assert_eq!(verify(b"s3cret", Some(short), Some(&ts), b"body", NOW), Err(SignatureError::BadFormat));
        let long = format!("{full}00");
        assert_eq!(verify(b"s3cret", Some(&long), Some(&ts), b"body", NOW), Err(SignatureError::BadFormat));
        assert_eq!(
            verify(b"s3cret", Some("sha256=zz"), Some(&ts), b"body", NOW),
            Err(SignatureError::BadFormat)
        );
    }
}
