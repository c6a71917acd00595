//! Identifiers on both sides, parsed once at the edge and carried typed from then on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("ISBN {input:?} has {digits} digits; expected 10 or 13 (hyphens and spaces allowed)")]
    IsbnLength { input: String, digits: usize },
    #[error(
        "ISBN {input:?} contains {found:?}; only digits, hyphens, spaces and a final X (ISBN-10) are allowed"
    )]
    IsbnCharacter { input: String, found: char },
    #[error("ISBN {input:?} fails its check digit: expected {expected}, found {found}")]
    IsbnCheckDigit { input: String, expected: char, found: char },
    #[error("ISBN-13 {input:?} must start with 978 or 979")]
    IsbnPrefix { input: String },
    #[error("OTMM asset id {input:?} must be 40 hexadecimal characters")]
    AssetId { input: String },
    #[error("{kind} id {input:?} must be a positive integer")]
    NumericId { kind: &'static str, input: String },
}

/// A validated ISBN-13, stored as its 13 digits without hyphens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Isbn13(String);

impl Isbn13 {
    /// Parses an ISBN-13 or ISBN-10 (converted to its 978 ISBN-13), tolerating hyphens and spaces.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let mut digits = String::with_capacity(13);
        for (i, ch) in input.trim().chars().enumerate() {
            match ch {
                '0'..='9' => digits.push(ch),
                '-' | ' ' => {}
                'X' | 'x' if i + 1 == input.trim().chars().count() => digits.push('X'),
                other => {
                    return Err(IdError::IsbnCharacter { input: input.to_string(), found: other });
                }
            }
        }
        match digits.len() {
            13 => {
                if digits.contains('X') {
                    return Err(IdError::IsbnCharacter { input: input.to_string(), found: 'X' });
                }
                if !(digits.starts_with("978") || digits.starts_with("979")) {
                    return Err(IdError::IsbnPrefix { input: input.to_string() });
                }
                let expected = isbn13_check_digit(&digits[..12]);
                let found = digits.as_bytes()[12] as char;
                if expected != found {
                    return Err(IdError::IsbnCheckDigit { input: input.to_string(), expected, found });
                }
                Ok(Isbn13(digits))
            }
            10 => {
                if digits[..9].contains('X') {
                    return Err(IdError::IsbnCharacter { input: input.to_string(), found: 'X' });
                }
                let expected = isbn10_check_digit(&digits[..9]);
                let found = digits.as_bytes()[9] as char;
                if expected != found {
                    return Err(IdError::IsbnCheckDigit { input: input.to_string(), expected, found });
                }
                let mut thirteen = format!("978{}", &digits[..9]);
                thirteen.push(isbn13_check_digit(&thirteen));
                Ok(Isbn13(thirteen))
            }
            n => Err(IdError::IsbnLength { input: input.to_string(), digits: n }),
        }
    }

    /// Builds an ISBN-13 from its first twelve digits, computing the check digit.
    /// Used by fixture generators; returns `None` unless given exactly 12 digits starting 978/979.
    pub fn from_prefix12(first12: &str) -> Option<Self> {
        if first12.len() != 12 || !first12.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut s = first12.to_string();
        s.push(isbn13_check_digit(first12));
        Isbn13::parse(&s).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn isbn13_check_digit(first12: &str) -> char {
    let sum: u32 =
        first12.bytes().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 }).sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn isbn10_check_digit(first9: &str) -> char {
    let sum: u32 = first9.bytes().enumerate().map(|(i, b)| u32::from(b - b'0') * (10 - i as u32)).sum();
    match (11 - sum % 11) % 11 {
        10 => 'X',
        d => char::from(b'0' + d as u8),
    }
}

impl fmt::Display for Isbn13 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl FromStr for Isbn13 {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Isbn13::parse(s)
    }
}
impl TryFrom<String> for Isbn13 {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Isbn13::parse(&s)
    }
}
impl From<Isbn13> for String {
    fn from(i: Isbn13) -> String {
        i.0
    }
}

/// An OTMM asset id: 40 lowercase hexadecimal characters (API-NOTES, "Asset fields").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AssetId(String);

impl AssetId {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s = input.trim();
        if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(AssetId(s.to_ascii_lowercase()))
        } else {
            Err(IdError::AssetId { input: input.to_string() })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl FromStr for AssetId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetId::parse(s)
    }
}
impl TryFrom<String> for AssetId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AssetId::parse(&s)
    }
}
impl From<AssetId> for String {
    fn from(a: AssetId) -> String {
        a.0
    }
}

macro_rules! numeric_id {
    ($name:ident, $kind:literal) => {
        #[doc = concat!("A Consonance ", $kind, " id (GraphQL `Int`).")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn parse(input: &str) -> Result<Self, IdError> {
                match input.trim().parse::<i64>() {
                    Ok(n) if n > 0 => Ok($name(n)),
                    _ => Err(IdError::NumericId { kind: $kind, input: input.to_string() }),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}
numeric_id!(WorkId, "work");
numeric_id!(ProductId, "product");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn isbn13_with_hyphens_parses() {
        assert_eq!(Isbn13::parse("978-0-306-40615-7").unwrap().as_str(), "9780306406157");
    }

    #[test]
    fn isbn10_converts_to_isbn13() {
        assert_eq!(Isbn13::parse("0-306-40615-2").unwrap().as_str(), "9780306406157");
        // An ISBN-10 whose check digit is X.
        assert_eq!(Isbn13::parse("0-8044-2957-X").unwrap().as_str(), "9780804429573");
    }

    #[test]
    fn bad_check_digit_names_expected_digit() {
        let err = Isbn13::parse("9780306406158").unwrap_err();
        assert_eq!(err, IdError::IsbnCheckDigit { input: "9780306406158".into(), expected: '7', found: '8' });
        assert!(err.to_string().contains("expected 7"));
    }

    #[test]
    fn rejects_wrong_length_prefix_and_letters() {
        assert!(matches!(Isbn13::parse("978030640615"), Err(IdError::IsbnLength { digits: 12, .. })));
        assert!(matches!(Isbn13::parse("1230306406157"), Err(IdError::IsbnPrefix { .. })));
        assert!(matches!(Isbn13::parse("97803064O6157"), Err(IdError::IsbnCharacter { found: 'O', .. })));
        assert!(matches!(Isbn13::parse("978030640615X"), Err(IdError::IsbnCharacter { .. })));
    }

    #[test]
    fn asset_id_normalises_case_and_checks_length() {
        let id = AssetId::parse("ABCDEF0123456789ABCDEF0123456789ABCDEF01").unwrap();
        assert_eq!(id.as_str(), "abcdef0123456789abcdef0123456789abcdef01");
        assert!(AssetId::parse("abc").is_err());
        assert!(AssetId::parse(&"g".repeat(40)).is_err());
    }

    #[test]
    fn serde_validates() {
        let ok: Isbn13 = serde_json::from_str("\"978-0-306-40615-7\"").unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"9780306406157\"");
        assert!(serde_json::from_str::<Isbn13>("\"9780306406158\"").is_err());
        assert!(WorkId::parse("0").is_err());
        assert_eq!(ProductId::parse(" 42 ").unwrap(), ProductId(42));
    }

    proptest! {
        #[test]
        fn every_generated_isbn_round_trips(prefix in prop::sample::select(vec!["978", "979"]), body in "[0-9]{9}") {
            let isbn = Isbn13::from_prefix12(&format!("{prefix}{body}")).unwrap();
            // Hyphenated anywhere, it parses to the same value.
            let hyphenated = format!("{}-{}-{}", &isbn.as_str()[..3], &isbn.as_str()[3..8], &isbn.as_str()[8..]);
            prop_assert_eq!(Isbn13::parse(&hyphenated).unwrap(), isbn.clone());
            // Changing the check digit always breaks it.
            let last = isbn.as_str().as_bytes()[12] - b'0';
            let wrong = format!("{}{}", &isbn.as_str()[..12], (last + 1) % 10);
            prop_assert!(Isbn13::parse(&wrong).is_err());
        }

        #[test]
        fn single_digit_errors_are_caught(body in "[0-9]{9}", pos in 0usize..12, delta in 1u8..10) {
            let isbn = Isbn13::from_prefix12(&format!("978{body}")).unwrap();
            let mut bytes = isbn.as_str().as_bytes().to_vec();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let typo = String::from_utf8(bytes).unwrap();
            // The ISBN-13 check catches every single-digit substitution.
            prop_assert!(Isbn13::parse(&typo).is_err());
        }
    }
}
