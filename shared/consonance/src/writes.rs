//! Writes: supporting resources (create, create-once, delete, upload, follow-up) and web links.

use super::decode::{decode, payload_error, retry_after_of};
use super::*;

/// Normalises an ONIX website role to the GraphQL enum spelling: `2`, `02`, `_02` → `_02`.
pub(super) fn website_role_enum(role: &str) -> String {
    let digits = role.trim().trim_start_matches('_');
    if digits.len() == 1 { format!("_0{digits}") } else { format!("_{digits}") }
}

impl ConsonanceClient {
    // ----------------------------------------------------------------------------------------
    // Writes

    /// Runs a mutation and returns its payload, with the payload's own `errors` read: any is
    /// [`ConsonanceError::Validation`] (or `NotFound` when it says so).
    pub(super) async fn mutate(
        &self,
        operation: &'static str,
        document: &str,
        field: &str,
        variables: Value,
        retry: Retry,
    ) -> Result<Value, ConsonanceError> {
        let mut data = self.graphql(operation, document, variables, retry).await?;
        let payload: Option<Value> = Self::field(operation, &mut data, field)?;
        let payload = payload.ok_or_else(|| ConsonanceError::Protocol {
            operation,
            message: format!("{field} returned null without errors"),
        })?;
        match payload_error(operation, &payload) {
            Some(e) => Err(e),
            None => Ok(payload),
        }
    }

    /// One `createSupportingResource` call, never retried (it is not idempotent). Prefer
    /// [`create_supporting_resource_once`](Self::create_supporting_resource_once).
    pub async fn create_supporting_resource(
        &self,
        input: &CreateSupportingResourceInput,
    ) -> Result<CreatedSupportingResource, ConsonanceError> {
        const OP: &str = "create_supporting_resource";
        let t = self.docs().await;
        let query = if input.resource_file_name.is_some() {
            &t.documents.create_supporting_resource_for_upload
        } else {
            &t.documents.create_supporting_resource
        };
        let input = serde_json::to_value(input).map_err(|e| ConsonanceError::Protocol {
            operation: OP,
            message: format!("input cannot be encoded: {e}"),
        })?;
        let mut payload =
            self.mutate(OP, query, "createSupportingResource", json!({"input": input}), Retry::Never).await?;
        // The payload's record field as the tenant names it (`supportingResource` conventionally).
        let record = payload
            .get_mut(&t.documents.caps.created_resource_field)
            .map(Value::take)
            .filter(|v| !v.is_null());
        let created = CreatedSupportingResource {
            supporting_resource: match record {
                Some(v) => decode(OP, "supportingResource", v)?,
                None => {
                    return Err(ConsonanceError::Protocol {
                        operation: OP,
                        message: "createSupportingResource returned no supporting resource and no errors"
                            .into(),
                    });
                }
            },
            presigned_url: payload.get("presignedUrl").and_then(Value::as_str).map(str::to_string),
            client_mutation_id: payload.get("clientMutationId").and_then(Value::as_str).map(str::to_string),
        };
        Ok(created)
    }

    /// Creates a supporting resource at most once, even when called again after a timeout, a
    /// 429/5xx or an unreadable answer.
    ///
    /// Consonance has no idempotency key (`clientMutationId` is only echoed back), so the marker
    /// must live in the resource itself: in its `filename` (the last segment of
    /// `imageRemoteUrl`, e.g. `.../9781800000001-front_cover-<asset id>-v3.jpg`) or its
    /// `caption`. Each attempt first lists the work's supporting resources and returns the one
    /// carrying the marker if there is one; only otherwise does it call
    /// `createSupportingResource` (once, [`Retry::Never`]). When that call's outcome is unknown
    /// ([`ConsonanceError::write_outcome_unknown`]) it waits (Retry-After, else exponential
    /// backoff) and goes round again, so the check sees a create that did land. Up to
    /// `policy.max_attempts` rounds; other errors (validation, not found, unauthorized) return at
    /// once. Limit: if Consonance made a created resource visible only later (it processes files
    /// in the background), a second create could slip in; the reconciler's drift check would then
    /// see two resources with the same marker and delete the newer one.
    pub async fn create_supporting_resource_once(
        &self,
        input: &CreateSupportingResourceInput,
        dedupe: &DedupeMarker,
    ) -> Result<CreateOnce, ConsonanceError> {
        self.create_supporting_resource_once_after(input, dedupe, None).await
    }

    /// [`create_supporting_resource_once`](Self::create_supporting_resource_once), its first
    /// check made on `listed`: the work's resources as a read of the same attempt saw them
    /// (`Work.supportingResources` in the title read), which saves the first listing when none
    /// carries the marker. Only the caller's own earlier attempts make resources with its
    /// marker, and they ended before that read (the caller holds the slot). A listing that shows
    /// one is not trusted as it stands (it may have been deleted or emptied since): the work is
    /// listed again, as are the rounds after an unknown outcome.
    pub async fn create_supporting_resource_once_after(
        &self,
        input: &CreateSupportingResourceInput,
        dedupe: &DedupeMarker,
        mut listed: Option<Vec<SupportingResource>>,
    ) -> Result<CreateOnce, ConsonanceError> {
        let policy = self.http.policy();
        let rounds = policy.max_attempts.max(1);
        let mut unknown_outcome = false;
        for round in 1..=rounds {
            let existing = match listed.take().filter(|l| !l.iter().any(|r| dedupe.matches(r))) {
                Some(none_marked) => none_marked,
                None => self.supporting_resources_of_work(input.work_id).await?,
            };
            if let Some(r) = existing.iter().find(|r| dedupe.matches(r)).cloned() {
                let outcome = if unknown_outcome {
                    CreateOutcome::RecoveredAfterUnknownOutcome
                } else {
                    CreateOutcome::AlreadyExisted
                };
                tracing::info!(resource_id = r.id, ?outcome, ?dedupe, "supporting resource already present");
                // Every earlier round made one create call.
                return Ok(CreateOnce {
                    resource: r,
                    outcome,
                    presigned_url: None,
                    create_calls: round - 1,
                    listed: existing,
                });
            }
            match self.create_supporting_resource(input).await {
                Ok(created) => {
                    return Ok(CreateOnce {
                        resource: created.supporting_resource,
                        outcome: CreateOutcome::Created,
                        presigned_url: created.presigned_url,
                        create_calls: round,
                        listed: existing,
                    });
                }
                Err(e) if e.write_outcome_unknown() && round < rounds => {
                    unknown_outcome = true;
                    let backoff = policy
                        .base_backoff_ms
                        .saturating_mul(1u64 << (round - 1).min(20))
                        .min(policy.max_backoff_ms);
                    let wait = e
                        .retry_after()
                        .map(|d| d.min(Duration::from_millis(policy.max_retry_after_ms)))
                        .unwrap_or(Duration::from_millis(backoff));
                    tracing::warn!(error = %e, round, wait_ms = wait.as_millis() as u64, "create outcome unknown; checking before trying again");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
        // Unreachable in practice: the last round either returns its result or its error.
        Err(ConsonanceError::Protocol {
            operation: "create_supporting_resource",
            message: "no attempt was made".into(),
        })
    }

    /// Deletes a supporting resource. `Ok(false)` when it was already gone (so a retry after a
    /// lost answer is harmless, which is why this one is retried); a payload with errors, or
    /// `success: false`, is an error, never a deletion.
    pub async fn delete_supporting_resource(&self, id: i64) -> Result<bool, ConsonanceError> {
        const OP: &str = "delete_supporting_resource";
        let t = self.docs().await;
        self.delete(OP, &t.documents.delete_supporting_resource, "deleteSupportingResource", id).await
    }

    pub(super) async fn delete(
        &self,
        operation: &'static str,
        document: &str,
        field: &str,
        id: i64,
    ) -> Result<bool, ConsonanceError> {
        match self.mutate(operation, document, field, json!({"input": {"id": id}}), Retry::Idempotent).await {
            Ok(payload) if payload.get("success") == Some(&Value::Bool(false)) => {
                Err(ConsonanceError::Validation {
                    operation,
                    message: format!("{field} answered success: false for {id}"),
                    path: None,
                })
            }
            Ok(_) => Ok(true),
            Err(ConsonanceError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// PUTs a file to the presigned URL a `resourceFileName` create answered with.
    pub async fn upload_to_presigned_url(
        &self,
        url: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), ConsonanceError> {
        const OP: &str = "upload_supporting_resource";
        let resp = self
            .http
            .send(OP, Retry::Idempotent, |c| {
                c.put(url).header(reqwest::header::CONTENT_TYPE, content_type).body(bytes.clone())
            })
            .await?;
        let status = resp.status().as_u16();
        let retry_after = retry_after_of(&resp);
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body = self.read_body(OP, resp).await.unwrap_or_default();
        Err(map_status(OP, status, retry_after, &body))
    }

    /// After a presigned upload: the configured follow-up mutation (the "subsequent mutation"
    /// of the `supportingresource` schema page, name UNCONFIRMED), with `{"id": resource id}`.
    /// Payload errors in any of its root fields are an error.
    pub async fn run_follow_up(&self, document: &str, resource_id: i64) -> Result<(), ConsonanceError> {
        const OP: &str = "upload_follow_up";
        let data = self.graphql(OP, document, json!({"id": resource_id}), Retry::Never).await?;
        if let Value::Object(map) = &data {
            for payload in map.values() {
                if let Some(e) = payload_error(OP, payload) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Adds a web link to a product. `role` is an ONIX list 73 code (`02`, `_02` or `2`); `note`
    /// is sent only where the tenant's `CreateWebLinkInput` has one. Not retried (not
    /// idempotent): on an unknown outcome, check `product.webLinks` before repeating.
    pub async fn create_web_link(
        &self,
        product_id: ProductId,
        link: &str,
        role: &str,
        note: Option<&str>,
    ) -> Result<WebLink, ConsonanceError> {
        const OP: &str = "create_web_link";
        let t = self.docs().await;
        let mut input = json!({"productId": product_id.0, "link": link, "role": website_role_enum(role)});
        if let (Some(n), true) = (note, t.documents.caps.web_link_note_input) {
            input["note"] = json!(n);
        }
        let mut payload = self
            .mutate(OP, &t.documents.create_web_link, "createWebLink", json!({"input": input}), Retry::Never)
            .await?;
        let record = payload.get_mut(&t.documents.caps.created_web_link_field).map(Value::take);
        match record.filter(|v| !v.is_null()) {
            Some(v) => decode(OP, "webLink", v),
            None => Err(ConsonanceError::Protocol {
                operation: OP,
                message: "createWebLink returned no webLink".into(),
            }),
        }
    }

    /// `Ok(false)` when it was already gone; payload errors are an error.
    pub async fn delete_web_link(&self, id: i64) -> Result<bool, ConsonanceError> {
        const OP: &str = "delete_web_link";
        let t = self.docs().await;
        self.delete(OP, &t.documents.delete_web_link, "deleteWebLink", id).await
    }
}
