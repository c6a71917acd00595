//! Reading the Prometheus text format back: the samples of `GET /metrics` for `connector
//! status`. Comments (`# HELP`, `# TYPE`) are skipped; a sample is
//! `name{label="value",...} value [timestamp]`.

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metrics text line {line}: {reason}: {text:?}")]
pub struct ParseError {
    pub line: usize,
    pub reason: &'static str,
    pub text: String,
}

/// Every sample of `text`, in order.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason| ParseError { line: i + 1, reason, text: raw.to_string() };
        let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).ok_or_else(|| err("no value"))?;
        let name = &line[..name_end];
        if name.is_empty() {
            return Err(err("no metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(after) = rest.strip_prefix('{') {
            let (parsed, tail) = parse_labels(after).ok_or_else(|| err("unreadable labels"))?;
            labels = parsed;
            rest = tail;
        }
        let value = rest.split_whitespace().next().ok_or_else(|| err("no value"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| err("value is not a number"))?,
        };
        out.push(Sample { name: name.to_string(), labels, value });
    }
    Ok(out)
}

/// `key="value",...}` -> the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start();
        if let Some(tail) = s.strip_prefix('}') {
            return Some((labels, tail));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.insert(key, value);
        s = s[end + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// The sum of `name`'s samples whose labels include every pair of `filter`.
pub fn total(samples: &[Sample], name: &str, filter: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| filter.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_and_without_labels() {
        let text = "# HELP events_processed Flow messages processed.\n\
                    # TYPE events_processed counter\n\
                    events_processed{source=\"otmm\",outcome=\"done\"} 3\n\
                    events_processed{source=\"otmm\",outcome=\"retry\"} 1\n\
                    \n\
                    rights_expiring 2 1700000000000\n\
                    odd{a=\"x\\\"y\\\\z\",b=\"\"} +Inf\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].name, "events_processed");
        assert_eq!(samples[0].labels["source"], "otmm");
        assert_eq!(samples[0].labels["outcome"], "done");
        assert_eq!(samples[0].value, 3.0);
        assert_eq!(
            samples[2],
            Sample { name: "rights_expiring".into(), labels: BTreeMap::new(), value: 2.0 }
        );
        assert_eq!(samples[3].labels["a"], "x\"y\\z");
        assert_eq!(samples[3].labels["b"], "");
        assert_eq!(samples[3].value, f64::INFINITY);
        assert_eq!(total(&samples, "events_processed", &[]), 4.0);
        assert_eq!(total(&samples, "events_processed", &[("outcome", "done")]), 3.0);
        assert_eq!(total(&samples, "events_processed", &[("outcome", "dead_letter")]), 0.0);
    }

    #[test]
    fn broken_lines_name_the_line() {
        let e = parse("ok 1\nbroken{a=\"x\" 1\n").unwrap_err();
        assert_eq!((e.line, e.reason), (2, "unreadable labels"));
        let e = parse("name notanumber").unwrap_err();
        assert_eq!(e.reason, "value is not a number");
        let e = parse("lonely").unwrap_err();
        assert_eq!(e.reason, "no value");
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
