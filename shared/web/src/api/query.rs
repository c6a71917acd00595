//! Query strings: only the parameters a route documents, each at most once, each validated
//! with an error naming it. Pure; the routes call these.

use super::ApiError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use connector_core::Isbn13;
use connector_core::readiness::{ReadinessStatus, TitleReadiness};
use std::collections::BTreeMap;

/// Parses `query` allowing only `allowed` names; a repeated or unknown name is refused.
pub fn params(query: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let k = k.into_owned();
        if !allowed.contains(&k.as_str()) {
            let accepted = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
            return Err(ApiError::bad(
                &k,
                format!("unknown query parameter {k:?}; this route accepts: {accepted}"),
            ));
        }
        if out.insert(k.clone(), v.into_owned()).is_some() {
            return Err(ApiError::bad(&k, format!("query parameter {k:?} is given more than once")));
        }
    }
    Ok(out)
}

pub fn isbn(field: &str, value: &str) -> Result<Isbn13, ApiError> {
    Isbn13::parse(value).map_err(|e| ApiError::bad(field, e.to_string()))
}

pub fn date(field: &str, value: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok().filter(|_| value.len() == 10).ok_or_else(|| {
        ApiError::bad(field, format!("{field} {value:?} is not a date of the form YYYY-MM-DD"))
    })
}

/// `limit`: 1..=max, `default` when absent.
pub fn limit(p: &BTreeMap<String, String>, default: usize, max: usize) -> Result<usize, ApiError> {
    match p.get("limit") {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad("limit", format!("limit {v:?} must be a whole number from 1 to {max}"))),
        },
    }
}

pub fn boolean(field: &str, value: Option<&String>) -> Result<bool, ApiError> {
    match value.map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(ApiError::bad(field, format!("{field} {v:?} must be true or false"))),
    }
}

/// Which titles to show: the filters of `GET /titles` and `GET /board`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TitleFilter {
    pub status: Option<ReadinessStatus>,
    /// Exact imprint name (case-insensitive).
    pub imprint: Option<String>,
    /// ONIX product form code (case-insensitive).
    pub form: Option<String>,
    /// Publication date on or after / on or before; titles without a date are left out when set.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl TitleFilter {
    pub const PARAMS: [&'static str; 5] = ["status", "imprint", "form", "from", "to"];

    /// Reads the filter parameters. With `empty_is_absent` (the board's GET form sends every
    /// field) an empty value means no filter; otherwise an empty status or date is refused.
    pub fn from_params(p: &BTreeMap<String, String>, empty_is_absent: bool) -> Result<Self, ApiError> {
        let free = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let non_empty = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !(empty_is_absent && v.is_empty()));
        let status = match non_empty("status") {
            None => None,
            Some(v) => Some(ReadinessStatus::parse(v).ok_or_else(|| {
                ApiError::bad("status", format!("status {v:?} must be one of ready, at_risk, blocked"))
            })?),
        };
        let from = non_empty("from").map(|v| date("from", v)).transpose()?;
        let to = non_empty("to").map(|v| date("to", v)).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(ApiError::bad("to", format!("to {t} is before from {f}")));
        }
        Ok(TitleFilter {
            status,
            imprint: free("imprint").map(str::to_string),
            form: free("form").map(str::to_string),
            from,
            to,
        })
    }

    pub fn matches(&self, t: &TitleReadiness) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| match want {
            None => true,
            Some(w) => have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(w)),
        };
        self.status.is_none_or(|s| t.status == s)
            && eq(&self.imprint, &t.imprint)
            && eq(&self.form, &t.product_form)
            && self.from.is_none_or(|f| t.publication_date.is_some_and(|d| d >= f))
            && self.to.is_none_or(|to| t.publication_date.is_some_and(|d| d <= to))
    }
}

/// The order of titles: by publication date (titles without one last), then ISBN.
pub fn sort_key(t: &TitleReadiness) -> (bool, Option<NaiveDate>, String) {
    (t.publication_date.is_none(), t.publication_date, t.isbn.to_string())
}

/// The cursor after `t`: base64url of `<date or ->|<isbn>`.
pub fn encode_title_cursor(t: &TitleReadiness) -> String {
    let date = t.publication_date.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
    URL_SAFE_NO_PAD.encode(format!("{date}|{}", t.isbn))
}

/// The position a cursor names, as a [`sort_key`].
pub fn decode_title_cursor(cursor: &str) -> Result<(bool, Option<NaiveDate>, String), ApiError> {
    let bad = || ApiError::bad("cursor", format!("cursor {cursor:?} is not one this API returned"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (date, isbn) = text.split_once('|').ok_or_else(bad)?;
    let isbn = Isbn13::parse(isbn).map_err(|_| bad())?;
    let date = match date {
        "-" => None,
        d => Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad())?),
    };
    Ok((date.is_none(), date, isbn.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unknown_and_repeated_parameters_are_named() {
        let e = params(Some("status=ready&colour=red"), &["status"]).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (400, Some("colour")));
        let e = params(Some("limit=1&limit=2"), &["limit"]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("limit"));
        let p = params(Some("imprint=Fox%20%26%20Hound&form=BB"), &["imprint", "form"]).unwrap();
        assert_eq!(p["imprint"], "Fox & Hound");
    }

    #[test]
    fn dates_limits_and_statuses_are_checked() {
        assert!(date("from", "2026-02-30").is_err());
        assert!(date("from", "2026-2-3").is_err());
        assert_eq!(date("from", "2026-02-03").unwrap().to_string(), "2026-02-03");
        let p = |q: &str| params(Some(q), &["limit", "status", "imprint", "form", "from", "to"]).unwrap();
        assert_eq!(limit(&p("limit=0"), 50, 200).unwrap_err().field.as_deref(), Some("limit"));
        assert_eq!(limit(&p("limit=201"), 50, 200).unwrap_err().field.as_deref(), Some("limit"));
        assert_eq!(limit(&p(""), 50, 200).unwrap(), 50);
        let e = TitleFilter::from_params(&p("status=late"), false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("status"));
        let e = TitleFilter::from_params(&p("from=2026-05-01&to=2026-04-01"), true).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("to"));
        let e = TitleFilter::from_params(&p("from=yesterday"), true).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("from"));
        // The board's form sends empty fields; the JSON route refuses an empty status or date.
        assert_eq!(
            TitleFilter::from_params(&p("status=&from=&imprint="), true).unwrap(),
            TitleFilter::default()
        );
        let e = TitleFilter::from_params(&p("status="), false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("status"));
    }

    proptest! {
        #[test]
        fn cursors_round_trip(days in 0i64..40_000, n in 0u64..1_000_000_000, dated in any::<bool>()) {
            let isbn = Isbn13::from_prefix12(&format!("978{n:09}")).unwrap();
            let date = dated.then(|| NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + chrono::Days::new(days as u64));
            let t = crate::api::routes::tests::readiness(&isbn, date, ReadinessStatus::Ready);
            prop_assert_eq!(decode_title_cursor(&encode_title_cursor(&t)).unwrap(), sort_key(&t));
        }

        #[test]
        fn no_cursor_string_panics(s in ".{0,40}") {
            let _ = decode_title_cursor(&s);
            let _ = params(Some(&s), &["a"]);
        }
    }
}
