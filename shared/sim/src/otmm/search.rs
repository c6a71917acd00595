//! `/search/text`: conditions, sort, `after`/`limit` paging, answered as strictly as the ids
//! the simulated installation knows. An unknown field id, operator or sort is an OTMM-style
//! error (`exception_body`, HTTP 400), never an empty result: a wrong id in a mapping config
//! must show up, as it would against a real OTMM (pyxecm's search answer carries
//! `contains_invalid_conditions`; this simulator refuses outright, the stricter reading).

use super::model::{ASSET_ID_FIELD, MODEL, fmt_date, parse_date, render_asset, render_folder};
use super::{Caller, Sh, Shared, SimAsset, SimFolder, SimState, error, form, with_metadata};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use connector_core::config::otmm_defaults as ids;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The field and operator ids the simulated installation accepts in searches. The defaults
/// are the mapping config's defaults (`connector_core::config::otmm_defaults`); a test starts
/// the simulator with others to see `connector check` name the difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchIds {
    /// Text "contains" (pyxecm).
    pub text_contains: String,
    /// Exact number match (public request-folder code searches a request id with it).
    pub number_is: String,
    /// Dates on or after (UNCONFIRMED id).
    pub date_on_or_after: String,
    /// The last-modified date field (UNCONFIRMED id).
    pub change_date_field: String,
    /// Lineage and latest-version fields (the public versions search).
    pub original_asset_id_field: String,
    pub latest_version_field: String,
    /// Serve `GET /assets/{id}/versions` (UNCONFIRMED resource); without it versions are
    /// found only by searching the lineage field.
    pub versions_resource: bool,
    /// Accept conditions joined by `relational_operator: "or"` in parenthesised groups (a
    /// public OTMM client's spelling, docs/ASSUMPTIONS.md O25); without it such a search is
    /// refused, the variant of an installation that does not take them.
    pub or_conditions: bool,
}

impl Default for SearchIds {
    fn default() -> Self {
        SearchIds {
            text_contains: ids::TEXT_OPERATOR.into(),
            number_is: "ARTESIA.OPERATOR.NUMBER.IS".into(),
            date_on_or_after: ids::DATE_ON_OR_AFTER_OPERATOR.into(),
            change_date_field: ids::CHANGE_DATE_FIELD.into(),
            original_asset_id_field: ids::ORIGINAL_ASSET_ID_FIELD.into(),
            latest_version_field: ids::LATEST_VERSION_FIELD.into(),
            versions_resource: true,
            or_conditions: true,
        }
    }
}

impl SearchIds {
    /// A field OTMM knows: the metadata model's, or a system field.
    fn known_field(&self, id: &str) -> bool {
        id == ASSET_ID_FIELD
            || id == self.change_date_field
            || id == self.original_asset_id_field
            || id == self.latest_version_field
            || MODEL.iter().any(|(_, _, fs)| fs.iter().any(|(f, _, _)| *f == id))
    }
    fn known_operator(&self, op: &str) -> bool {
        op == self.text_contains || op == self.number_is || op == self.date_on_or_after
    }
}

pub(super) async fn search_get(
    State(sh): Sh,
    Caller(_): Caller,
    Path(v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    search(&sh, &v, &q)
}

pub(super) async fn search_post(
    State(sh): Sh,
    Caller(_): Caller,
    Path(v): Path<String>,
    body: Bytes,
) -> Response {
    search(&sh, &v, &form(&body))
}

pub(super) struct Condition {
    field: String,
    op: String,
    value: String,
    /// `relational_operator`: how it joins the condition before it (absent: "and").
    or: bool,
    /// `left_paren` / `right_paren`: how many groups open before it and close after it.
    opens: usize,
    closes: usize,
}

/// The boolean shape of a condition list: each condition joins the one before it by its
/// `relational_operator`, groups are opened and closed by `left_paren` / `right_paren`.
#[derive(Debug)]
enum Expr {
    Cond(usize),
    All(Vec<Expr>),
    Any(Vec<Expr>),
}

/// A search's conditions and their shape.
pub(super) struct Conditions {
    conditions: Vec<Condition>,
    shape: Expr,
}

impl Conditions {
    /// Whether `test` (one condition's match) makes the whole list hold.
    fn holds(&self, test: impl Fn(&Condition) -> bool) -> bool {
        fn eval(e: &Expr, cs: &[Condition], t: &dyn Fn(&Condition) -> bool) -> bool {
            match e {
                Expr::Cond(i) => t(&cs[*i]),
                Expr::All(xs) => xs.iter().all(|x| eval(x, cs, t)),
                Expr::Any(xs) => xs.iter().any(|x| eval(x, cs, t)),
            }
        }
        eval(&self.shape, &self.conditions, &test)
    }

    fn any_or(&self) -> bool {
        self.conditions.iter().any(|c| c.or)
    }

    /// Conditions of which every hit must match one (`None`: no such set): the conditions
    /// a candidate index can narrow by.
    fn narrowing(&self, usable: impl Fn(&Condition) -> bool) -> Option<Vec<&Condition>> {
        fn go<'a>(
            e: &Expr,
            cs: &'a [Condition],
            u: &dyn Fn(&Condition) -> bool,
        ) -> Option<Vec<&'a Condition>> {
            match e {
                Expr::Cond(i) => u(&cs[*i]).then(|| vec![&cs[*i]]),
                Expr::All(xs) => xs.iter().find_map(|x| go(x, cs, u)),
                Expr::Any(xs) => {
                    xs.iter().map(|x| go(x, cs, u)).collect::<Option<Vec<_>>>().map(|v| v.concat())
                }
            }
        }
        go(&self.shape, &self.conditions, &usable)
    }

    /// A key naming the conditions and their shape (the change feed's kept hits).
    fn key(&self) -> String {
        let parts: Vec<String> = self
            .conditions
            .iter()
            .map(|c| format!("{}{}\u{0}{}\u{0}{}{}{}", c.or as u8, c.opens, c.field, c.op, c.value, c.closes))
            .collect();
        parts.join("\u{1}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    And,
    Or,
    Open,
    Close,
    Cond(usize),
}

/// The shape of `conditions`. Strict where OTMM's rule is not public: a group that mixes
/// "and" and "or" without parentheses is refused (which binds tighter is unknown), as are
/// unbalanced parentheses.
fn shape(conditions: &[Condition]) -> Result<Expr, String> {
    let mut tokens = Vec::new();
    for (i, c) in conditions.iter().enumerate() {
        if i > 0 {
            tokens.push(if c.or { Token::Or } else { Token::And });
        }
        tokens.extend(std::iter::repeat_n(Token::Open, c.opens));
        tokens.push(Token::Cond(i));
        tokens.extend(std::iter::repeat_n(Token::Close, c.closes));
    }
    fn group(tokens: &[Token], pos: &mut usize, depth: usize) -> Result<Expr, String> {
        let mut items = Vec::new();
        let mut join: Option<Token> = None;
        loop {
            let item = match tokens.get(*pos) {
                Some(Token::Open) => {
                    *pos += 1;
                    let inner = group(tokens, pos, depth + 1)?;
                    if tokens.get(*pos) != Some(&Token::Close) {
                        return Err("a left_paren is never closed by a right_paren".into());
                    }
                    *pos += 1;
                    inner
                }
                Some(Token::Cond(i)) => {
                    *pos += 1;
                    Expr::Cond(*i)
                }
                _ => return Err("a group has no condition".into()),
            };
            items.push(item);
            match tokens.get(*pos) {
                Some(op @ (Token::And | Token::Or)) => {
                    if join.is_some_and(|j| j != *op) {
                        return Err("a group mixes relational_operator \"and\" and \"or\": \
                                    group them with left_paren / right_paren"
                            .into());
                    }
                    join = Some(*op);
                    *pos += 1;
                }
                Some(Token::Close) if depth > 0 => break,
                Some(Token::Close) => return Err("a right_paren closes no left_paren".into()),
                None => break,
                Some(_) => unreachable!("conditions are joined"),
            }
        }
        Ok(match join {
            Some(Token::Or) => Expr::Any(items),
            _ if items.len() == 1 => items.pop().expect("one item"),
            _ => Expr::All(items),
        })
    }
    if conditions.is_empty() {
        return Ok(Expr::All(Vec::new()));
    }
    let mut pos = 0;
    group(&tokens, &mut pos, 0)
}

fn parse_conditions(raw: Option<&String>) -> Result<Conditions, String> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Conditions { conditions: Vec::new(), shape: Expr::All(Vec::new()) });
    };
    let doc: Value =
        serde_json::from_str(raw).map_err(|e| format!("search_condition_list is not JSON: {e}"))?;
    let list = doc
        .pointer("/search_condition_list/search_condition")
        .and_then(Value::as_array)
        .ok_or("expected search_condition_list.search_condition to be a list")?;
    let conditions = list
        .iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
            let parens = |k: &str, ch: char| -> Result<usize, String> {
                match s(k) {
                    None => Ok(0),
                    Some(p) if !p.trim().is_empty() && p.trim().chars().all(|x| x == ch) => {
                        Ok(p.trim().len())
                    }
                    Some(p) => Err(format!("{k} must be {ch:?}, got {p:?}")),
                }
            };
            Ok(Condition {
                field: s("metadata_field_id").ok_or("a condition has no metadata_field_id")?,
                op: s("relational_operator_id").ok_or("a condition has no relational_operator_id")?,
                value: match c.get("value") {
                    Some(Value::String(v)) => v.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                },
                or: match s("relational_operator").map(|j| j.to_lowercase()).as_deref() {
                    None | Some("and") => false,
                    Some("or") => true,
                    Some(other) => {
                        return Err(format!("relational_operator must be \"and\" or \"or\", got {other:?}"));
                    }
                },
                opens: parens("left_paren", '(')?,
                closes: parens("right_paren", ')')?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let shape = shape(&conditions)?;
    Ok(Conditions { conditions, shape })
}

fn field_text<'a>(ids: &SearchIds, a: &'a SimAsset, field: &str) -> Option<std::borrow::Cow<'a, str>> {
    if field == ASSET_ID_FIELD {
        Some(a.asset_id.as_str().into())
    } else if field == ids.change_date_field {
        Some(fmt_date(a.date_last_updated).into())
    } else if field == ids.original_asset_id_field {
        Some(a.original_asset_id.as_str().into())
    } else if field == ids.latest_version_field {
        Some(if a.latest_version { "Y" } else { "N" }.into())
    } else {
        a.field(field).map(Into::into)
    }
}

/// Whether `a` matches `c` (the caller checked field and operator ids).
fn matches(ids: &SearchIds, a: &SimAsset, c: &Condition) -> bool {
    if c.op == ids.date_on_or_after {
        let date = if c.field == ids.change_date_field {
            Some(a.date_last_updated)
        } else {
            a.field(&c.field).and_then(parse_date)
        };
        return parse_date(&c.value).is_some_and(|b| date.is_some_and(|d| d >= b));
    }
    let text = field_text(ids, a, &c.field);
    if c.op == ids.number_is {
        return text.is_some_and(|t| t.trim() == c.value.trim());
    }
    text.is_some_and(|t| t.to_lowercase().contains(&c.value.to_lowercase()))
}

/// Text conditions on a folder's metadata (date conditions never match a folder).
fn folder_matches(ids: &SearchIds, f: &SimFolder, c: &Condition) -> bool {
    let text = f.fields.get(&c.field);
    if c.op == ids.text_contains {
        text.is_some_and(|t| t.to_lowercase().contains(&c.value.to_lowercase()))
    } else if c.op == ids.number_is {
        text.is_some_and(|t| t.trim() == c.value.trim())
    } else {
        false
    }
}

/// The change feed's search (sorted ascending by last update, no keyword, latest versions)
/// answered from the feed index: the same hits in the same order as filtering and sorting every
/// asset, but a page costs the page (plus the hits before `after`), not the repository.
/// Returns (total hits, the page).
fn feed_page(
    ids: &SearchIds,
    st: &mut SimState,
    query: &Conditions,
    after: u64,
    limit: u64,
) -> (usize, Vec<SimAsset>) {
    // The feed is in (date, id) order; a lower bound on the date is where hits can start
    // (one ANDed with the rest: an "or" anywhere makes none a bound).
    let mut from: Option<DateTime<Utc>> = None;
    let mut only_bounds = !query.any_or();
    for c in query.conditions.iter().filter(|_| !query.any_or()) {
        match parse_date(&c.value)
            .filter(|_| c.field == ids.change_date_field && c.op == ids.date_on_or_after)
        {
            Some(b) => from = from.max(Some(b)),
            None => only_bounds = false,
        }
    }
    st.assets.build_feed();
    let feed = st.assets.feed();
    let start = match from {
        None => 0,
        Some(b) => feed.partition_point(|(d, _)| *d < b),
    };
    let candidates = feed[start..].iter().filter_map(|(_, id)| st.assets.get(id));
    if only_bounds {
        // Every condition is the range itself: the hits are exactly the rest of the feed.
        let page = candidates.skip(after as usize).take(limit as usize).cloned().collect();
        return (feed.len() - start, page);
    }
    // The hits of these conditions, counted once per pass rather than once per page.
    let key = query.key();
    if st.assets.feed_hits(&key).is_none() {
        let hits: Vec<String> =
            candidates.filter(|a| query.holds(|c| matches(ids, a, c))).map(|a| a.asset_id.clone()).collect();
        st.assets.set_feed_hits(key.clone(), hits);
    }
    let hits = st.assets.feed_hits(&key).unwrap_or_default();
    let page = hits
        .iter()
        .skip(after as usize)
        .take(limit as usize)
        .filter_map(|id| st.assets.get(id))
        .cloned()
        .collect();
    (hits.len(), page)
}

/// Refuses what the installation does not know, as OTMM would.
fn check_ids(ids: &SearchIds, query: &Conditions, sort_field: &str) -> Result<(), Response> {
    let bad = |code: &str, m: String| Err(error(StatusCode::BAD_REQUEST, code, m));
    if !ids.or_conditions && query.any_or() {
        return bad("INVALID_SEARCH", "this installation does not accept relational_operator \"or\"".into());
    }
    for c in &query.conditions {
        if !ids.known_field(&c.field) {
            return bad("INVALID_SEARCH_FIELD", format!("unknown metadata field id {:?}", c.field));
        }
        if !ids.known_operator(&c.op) {
            return bad("INVALID_SEARCH_OPERATOR", format!("unknown relational operator id {:?}", c.op));
        }
        if c.op == ids.date_on_or_after && parse_date(&c.value).is_none() {
            return bad("INVALID_SEARCH", format!("{:?} is not a date", c.value));
        }
    }
    if !ids.known_field(sort_field) {
        return bad("INVALID_SEARCH_SORT", format!("cannot sort on unknown field {sort_field:?}"));
    }
    Ok(())
}

/// `/search/text` over latest, non-deleted versions (all versions of a lineage when the
/// lineage field is searched, as the public versions search expects).
/// The caller is authenticated by the handlers' [`Caller`].
fn search(sh: &Shared, v: &str, q: &HashMap<String, String>) -> Response {
    let ids = &sh.options.search;
    let query = match parse_conditions(q.get("search_condition_list")) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, "INVALID_SEARCH", e),
    };
    let num = |k: &str, d: u64| -> Result<u64, Response> {
        match q.get(k) {
            None => Ok(d),
            Some(s) => s.trim().parse().map_err(|_| {
                error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", format!("{k} must be a number, got {s:?}"))
            }),
        }
    };
    let (after, limit) = match (num("after", 0), num("limit", 25)) {
        (Ok(a), Ok(l)) => (a, l.clamp(1, 200)),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let keyword =
        q.get("keyword_query").map(|k| k.trim().to_lowercase()).filter(|k| !k.is_empty() && k != "*");
    let default_sort = format!("asc_{ASSET_ID_FIELD}");
    let sort = q.get("sort").map(String::as_str).unwrap_or(&default_sort);
    let (desc, field) = match sort.split_once('_') {
        Some(("desc", f)) => (true, f),
        Some(("asc", f)) => (false, f),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_SEARCH_SORT",
                format!("sort {sort:?} is not asc_<field id> or desc_<field id>"),
            );
        }
    };
    if let Err(r) = check_ids(ids, &query, field) {
        return r;
    }
    let conditions = &query.conditions;
    let mut st = sh.lock();
    let all_versions = conditions.iter().any(|c| c.field == ids.original_asset_id_field);
    let feed_order = field == ids.change_date_field && !desc && keyword.is_none() && !all_versions;
    // Folders carry metadata too and OTMM search finds them (a customer build finds its asset
    // requests this way, API-NOTES). Only searches on model fields match them, so the change
    // feed (by last-updated date) stays assets only. UNCONFIRMED: which containers a real
    // search configuration returns.
    let metadata_only = !conditions.is_empty()
        && conditions.iter().all(|c| MODEL.iter().any(|(_, _, fs)| fs.iter().any(|(f, _, _)| *f == c.field)));
    let (total, page): (usize, Vec<Found>) = if feed_order && !metadata_only {
        let (total, assets) = feed_page(ids, &mut st, &query, after, limit);
        (total, assets.into_iter().map(Found::Asset).collect())
    } else {
        let mut hits = Vec::new();
        // A lineage id is 40 hex characters, so a condition that contains a whole one names
        // exactly its lineage: read that from the index instead of every version (the versions
        // search of a full scan, one per asset, made the simulator the bench's bottleneck).
        // With "or" groups, the union of each alternative's candidates.
        let lineages =
            query.narrowing(|c| c.field == ids.original_asset_id_field && c.value.trim().len() == 40);
        // A text condition on a metadata field whose value is an identifier (an ISBN) narrows
        // the candidates by the value index.
        let special =
            [ASSET_ID_FIELD, &ids.change_date_field, &ids.original_asset_id_field, &ids.latest_version_field];
        let by_value = if lineages.is_some() {
            None
        } else {
            query.narrowing(|c| c.op != ids.date_on_or_after && !special.contains(&c.field.as_str()))
        };
        let narrowed: Option<Vec<&SimAsset>> = match (&lineages, &by_value) {
            (Some(ls), _) => Some(
                ls.iter()
                    .flat_map(|c| st.assets.lineage(&c.value.trim().to_lowercase()).collect::<Vec<_>>())
                    .collect(),
            ),
            (None, Some(cs)) => cs
                .iter()
                .map(|c| st.assets.could_hold(&c.field, &c.value))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat()),
            (None, None) => None,
        };
        let candidates: Box<dyn Iterator<Item = &SimAsset>> = match narrowed {
            Some(mut assets) => {
                // Alternatives may name the same asset: each hit once.
                assets.sort_by(|x, y| x.asset_id.cmp(&y.asset_id));
                assets.dedup_by(|x, y| x.asset_id == y.asset_id);
                Box::new(assets.into_iter())
            }
            None => Box::new(st.assets.values()),
        };
        for a in candidates.filter(|a| (all_versions || a.latest_version) && !a.deleted) {
            let mut ok = query.holds(|c| matches(ids, a, c));
            if let Some(k) = &keyword {
                ok &= a.name.to_lowercase().contains(k)
                    || a.fields.values().any(|f| f.to_lowercase().contains(k));
            }
            if ok {
                hits.push(Hit::Asset(a));
            }
        }
        if metadata_only {
            for f in st.folders.values() {
                if query.holds(|c| folder_matches(ids, f, c)) {
                    hits.push(Hit::Folder(f));
                }
            }
        }
        hits.sort_by(|x, y| {
            let ord = if field == ids.change_date_field {
                x.date_last_updated().cmp(&y.date_last_updated())
            } else {
                x.text(ids, field).cmp(&y.text(ids, field))
            };
            let ord = if desc { ord.reverse() } else { ord };
            ord.then_with(|| x.id().cmp(y.id()))
        });
        let total = hits.len();
        (total, hits.into_iter().skip(after as usize).take(limit as usize).map(Hit::found).collect())
    };
    let ids_list: Vec<&str> = page.iter().map(Found::id).collect();
    let mut resource = json!({"search_result": {
        "asset_id_list": ids_list,
        "hit_count": page.len(),
        "total_hit_count": total,
        "offset": after,
        "contains_invalid_conditions": false,
    }});
    if q.get("return_type").map(String::as_str) != Some("ids") {
        let md = with_metadata(q);
        resource["asset_list"] = Value::Array(
            page.iter()
                .map(|h| match h {
                    Found::Asset(a) => render_asset(a, md, v),
                    Found::Folder(f) => render_folder(f, st.child_count(&f.folder_id), md),
                })
                .collect(),
        );
    }
    Json(json!({"search_result_resource": resource})).into_response()
}

/// A search hit: an asset, or a folder (see [`search`]).
enum Hit<'a> {
    Asset(&'a SimAsset),
    Folder(&'a SimFolder),
}

/// A hit on the page being answered, copied out of the state.
enum Found {
    Asset(SimAsset),
    Folder(SimFolder),
}

impl Found {
    fn id(&self) -> &str {
        match self {
            Found::Asset(a) => &a.asset_id,
            Found::Folder(f) => &f.folder_id,
        }
    }
}

impl Hit<'_> {
    fn found(self) -> Found {
        match self {
            Hit::Asset(a) => Found::Asset(a.clone()),
            Hit::Folder(f) => Found::Folder(f.clone()),
        }
    }
    fn id(&self) -> &str {
        match self {
            Hit::Asset(a) => &a.asset_id,
            Hit::Folder(f) => &f.folder_id,
        }
    }
    fn date_last_updated(&self) -> DateTime<Utc> {
        match self {
            Hit::Asset(a) => a.date_last_updated,
            Hit::Folder(f) => f.created_at,
        }
    }
    fn text(&self, ids: &SearchIds, field: &str) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Hit::Asset(a) => field_text(ids, a, field),
            Hit::Folder(f) => f.fields.get(field).map(|v| v.as_str().into()),
        }
    }
}
