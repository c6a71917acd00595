//! `Idempotency` on DynamoDB: claims with an in-progress expiry, completion with the stored
//! answer, release (the Powertools idempotency record layout).

use super::*;

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Epoch milliseconds to the TTL attribute's epoch seconds, rounding up.
fn ceil_seconds(ms: i64) -> i64 {
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) > 0)
}

#[async_trait]
impl Idempotency for DynamoStore {
    async fn claim(
        &self,
        key: &str,
        payload_hash: Option<&str>,
        now: DateTime<Utc>,
        ttl: IdempotencyTtl,
    ) -> Result<Claim> {
        let what = format!("{} {IDEMPOTENCY_KEY}={key}", self.idempotency_table);
        let now_s = now.timestamp();
        let now_ms = now.timestamp_millis();
        let in_progress_until_ms = now_ms.saturating_add(millis(ttl.in_progress));
        // The TTL must not remove an INPROGRESS record before its in-progress window ends.
        let keep_ms = millis(ttl.completed.max(ttl.in_progress));
        let expiration = ceil_seconds(now_ms.saturating_add(keep_ms));
        let mut item = HashMap::from([
            (IDEMPOTENCY_KEY.to_string(), s(key)),
            (STATUS.to_string(), s(INPROGRESS)),
            (TTL_ATTRIBUTE.to_string(), n(expiration)),
            (IN_PROGRESS_EXPIRATION.to_string(), n(in_progress_until_ms)),
        ]);
        if let Some(hash) = payload_hash {
            item.insert(VALIDATION.into(), s(hash));
        }
        // Expired records count as absent: TTL deletion is lazy (and never happens on moto).
        let result = self
            .client
            .put_item()
            .table_name(&self.idempotency_table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#id) OR #exp < :now OR (#status = :inprogress AND #ipe < :now_ms)",
            )
            .expression_attribute_names("#id", IDEMPOTENCY_KEY)
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#ipe", IN_PROGRESS_EXPIRATION)
            .expression_attribute_values(":now", n(now_s))
            .expression_attribute_values(":now_ms", n(now_ms))
            .expression_attribute_values(":inprogress", s(INPROGRESS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(_) => return Ok(Claim::Acquired),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(e)) => e.item().cloned(),
                _ => return Err(sdk_error(BACKEND, "PutItem", &what, err)),
            },
        };
        let Some(old) = old else {
            // The condition can only fail on an existing item; a service that did not return
            // it is answered as "busy" so the caller retries rather than running twice.
            return Ok(Claim::InProgress { until: now });
        };
        if let (Some(stored), Some(incoming)) = (string(&old, VALIDATION), payload_hash)
            && stored != incoming
        {
            return Err(StoreError::PayloadMismatch { key: key.to_string() });
        }
        match string(&old, STATUS) {
            Some(COMPLETED) => Ok(Claim::Completed { data: string(&old, DATA).map(str::to_string) }),
            Some(INPROGRESS) => {
                let until = number(&old, IN_PROGRESS_EXPIRATION)
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or(now);
                Ok(Claim::InProgress { until })
            }
            other => Err(StoreError::Corrupt {
                key: what,
                message: format!("status is {other:?}, expected {INPROGRESS} or {COMPLETED}"),
            }),
        }
    }

    async fn complete(
        &self,
        key: &str,
        data: Option<&str>,
        now: DateTime<Utc>,
        ttl: IdempotencyTtl,
    ) -> Result<()> {
        let what = format!("{} {IDEMPOTENCY_KEY}={key}", self.idempotency_table);
        let expiration = ceil_seconds(now.timestamp_millis().saturating_add(millis(ttl.completed)));
        let mut update = "SET #status = :completed, #exp = :exp".to_string();
        let mut remove = vec!["#ipe"];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.idempotency_table)
            .key(IDEMPOTENCY_KEY, s(key))
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_names("#ipe", IN_PROGRESS_EXPIRATION)
            .expression_attribute_names("#data", DATA)
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":exp", n(expiration));
        match data {
            Some(data) => {
                update.push_str(", #data = :data");
                request = request.expression_attribute_values(":data", s(data));
            }
            None => remove.push("#data"),
        }
        update.push_str(" REMOVE ");
        update.push_str(&remove.join(", "));
        request
            .update_expression(update)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "UpdateItem", &what, e))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<()> {
        let what = format!("{} {IDEMPOTENCY_KEY}={key}", self.idempotency_table);
        self.client
            .delete_item()
            .table_name(&self.idempotency_table)
            .key(IDEMPOTENCY_KEY, s(key))
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "DeleteItem", &what, e))?;
        Ok(())
    }
}
