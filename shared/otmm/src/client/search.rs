//! Search: one page of `POST /search/text`, and the change feed over it.

use super::*;

impl OtmmClient {
    /// One page of `POST /search/text` (form; pyxecm `search_assets` sends the same fields)
    /// with the conditions ANDed (or grouped, [`SearchCondition::any_of`]), sorted by `sort` (a field id with its direction prefix, as the
    /// mapping config spells it). A result flagged `contains_invalid_conditions` (pyxecm's
    /// search answer shows the flag) is an error naming the conditions, never an empty page.
    pub async fn search(
        &self,
        conditions: &[SearchCondition],
        sort: Option<&str>,
        after: u64,
        limit: u64,
    ) -> Result<SearchPage, OtmmError> {
        const OP: &str = "search";
        let mut list: Vec<Value> = Vec::new();
        for c in conditions {
            let mut cond = json!({
                "type": "com.artesia.search.SearchScalarCondition",
                "metadata_field_id": c.metadata_field_id,
                "relational_operator_id": c.relational_operator_id,
                "value": c.value,
            });
            if let Some(join) = c.join {
                cond["relational_operator"] = json!(join);
            }
            if c.opens_group {
                cond["left_paren"] = json!("(");
            }
            if c.closes_group {
                cond["right_paren"] = json!(")");
            }
            list.push(cond);
        }
        let condition_text = json!({"search_condition_list": {"search_condition": list}}).to_string();
        let after_s = after.to_string();
        let limit_s = limit.max(1).to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("keyword_query", "*"),
            ("load_type", "full"),
            ("level_of_detail", "full"),
            ("after", &after_s),
            ("limit", &limit_s),
            ("search_condition_list", &condition_text),
        ];
        if let Some(s) = sort {
            pairs.push(("sort", s));
        }
        if let Some(id) = &self.inner.config.options.search_config_id {
            pairs.push(("search_config_id", id));
        }
        let body = form_text(pairs);
        let url = self.url(&["search", "text"]);
        let v = self
            .call_json(OP, "search", Retry::Idempotent, |c| {
                c.post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone())
            })
            .await?;
        let result = at(OP, &v, "search_result_resource.search_result")?;
        if result.get("contains_invalid_conditions").and_then(Value::as_bool) == Some(true) {
            let list: Vec<String> = conditions
                .iter()
                .map(|c| format!("{} {} {:?}", c.metadata_field_id, c.relational_operator_id, c.value))
                .collect();
            return Err(OtmmError::Rejected {
                operation: OP,
                status: 200,
                error_code: Some("contains_invalid_conditions".into()),
                message: format!("OTMM reports invalid search conditions: {}", list.join("; ")),
            });
        }
        let count = |k: &str| -> Result<u64, OtmmError> {
            result
                .get(k)
                .and_then(|x| x.as_u64().or_else(|| x.as_str().and_then(|s| s.parse().ok())))
                .ok_or_else(|| {
                    OtmmError::protocol(
                        OP,
                        format!("expected JSON at search_result_resource.search_result.{k}: a count"),
                    )
                })
        };
        let assets = Self::asset_list(OP, &v, "search_result_resource.asset_list")?;
        let asset_ids: Vec<String> = result
            .get("asset_id_list")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_else(|| assets.iter().map(|a| a.asset_id.to_string()).collect());
        Ok(SearchPage {
            hit_count: result.get("hit_count").map_or(Ok(asset_ids.len() as u64), |_| count("hit_count"))?,
            total_hit_count: count("total_hit_count")?,
            offset: result.get("offset").and_then(Value::as_u64).unwrap_or(after),
            assets,
            asset_ids,
        })
    }

    /// Assets whose date field matches `feed.operator` against `since`, in `feed.sort` order:
    /// the change feed.
    pub async fn search_changed_since(
        &self,
        feed: &ChangeFeed,
        since: DateTime<Utc>,
        after: u64,
        limit: u64,
    ) -> Result<SearchPage, OtmmError> {
        let mut conds = vec![SearchCondition::new(
            feed.date_field.clone(),
            feed.operator.clone(),
            since.to_rfc3339_opts(SecondsFormat::Secs, true),
        )];
        conds.extend(feed.extra.iter().cloned());
        self.search(&conds, Some(&feed.sort), after, limit).await
    }

    /// Every asset changed since `since`, paging until `total_hit_count` (or an empty page).
    /// An asset that moves between pages while paging is returned once (its last sighting).
    pub async fn search_all_changed_since(
        &self,
        feed: &ChangeFeed,
        since: DateTime<Utc>,
    ) -> Result<Vec<OtmmAsset>, OtmmError> {
        let limit = self.inner.config.options.page_size.max(1);
        let mut after = 0;
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut out: Vec<OtmmAsset> = Vec::new();
        loop {
            let page = self.search_changed_since(feed, since, after, limit).await?;
            for a in page.assets {
                match seen.get(a.asset_id.as_str()) {
                    Some(&i) => out[i] = a,
                    None => {
                        seen.insert(a.asset_id.to_string(), out.len());
                        out.push(a);
                    }
                }
            }
            after += page.hit_count;
            if page.hit_count == 0 || after >= page.total_hit_count {
                return Ok(out);
            }
        }
    }
}
