//! Auth and transport: session login (and re-login on a 401), the one `call` every operation
//! goes through, and the answer decoding they share.

use super::*;

impl OtmmClient {
    pub(super) async fn login(&self, generation: u64) -> Result<Creds, OtmmError> {
        let cred = match &self.inner.config.auth {
            OtmmAuth::Token(t) => Cred::Bearer(t.clone()),
            OtmmAuth::Session { username, password } => {
                let url = self.url(&["sessions"]);
                let body = form_text([("username", username.as_str()), ("password", password.as_str())]);
                let resp = self
                    .inner
                    .http
                    .send("login", Retry::Idempotent, |c| {
                        c.post(url.clone())
                            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                            .body(body.clone())
                    })
                    .await?;
                let v = self.json_ok("login", "session", resp).await?;
                let id = at("login", &v, "session_resource.session.id")?;
                let id = match id {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) if !s.is_empty() => s.clone(),
                    other => {
                        return Err(OtmmError::protocol(
                            "login",
                            format!(
                                "expected JSON at session_resource.session.id: a session id, found {other}"
                            ),
                        ));
                    }
                };
                Cred::Session(id)
            }
            OtmmAuth::OAuth2 { username, password, client_id, client_secret } => {
                let url = self.url(&["sessions", "oauth2", "token"]);
                let body = form_text([
                    ("grant_type", "password"),
                    ("username", username.as_str()),
                    ("password", password.as_str()),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.as_str()),
                ]);
                let resp = self
                    .inner
                    .http
                    .send("oauth2_token", Retry::Idempotent, |c| {
                        c.post(url.clone())
                            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                            .body(body.clone())
                    })
                    .await?;
                let v = self.json_ok("oauth2_token", "token", resp).await?;
                // pyxecm: response.json()["token_info"]["oauth_token"]["accessToken"].
                match at("oauth2_token", &v, "token_info.oauth_token.accessToken")? {
                    Value::String(s) if !s.is_empty() => Cred::Bearer(s.clone()),
                    other => {
                        return Err(OtmmError::protocol(
                            "oauth2_token",
                            format!(
                                "expected JSON at token_info.oauth_token.accessToken: a token, found {other}"
                            ),
                        ));
                    }
                }
            }
        };
        tracing::debug!(generation, "otmm logged in");
        Ok(Creds { generation, cred })
    }

    pub(super) async fn creds(&self) -> Result<Creds, OtmmError> {
        let mut guard = self.inner.auth.lock().await;
        if let Some(c) = &*guard {
            return Ok(c.clone());
        }
        let c = self.login(1).await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Logs in again unless someone already did since `stale` was handed out.
    pub(super) async fn relogin(&self, stale: u64) -> Result<Creds, OtmmError> {
        let mut guard = self.inner.auth.lock().await;
        if let Some(c) = &*guard
            && c.generation != stale
        {
            return Ok(c.clone());
        }
        let next = guard.as_ref().map_or(1, |c| c.generation + 1);
        *guard = None;
        let c = self.login(next).await?;
        tracing::info!(generation = next, "otmm session rejected; logged in again");
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Ends the session (`DELETE /sessions`), if there is one.
    pub async fn logout(&self) -> Result<(), OtmmError> {
        let mut guard = self.inner.auth.lock().await;
        if let Some(Creds { cred: Cred::Session(_), .. }) = guard.take() {
            let url = self.url(&["sessions"]);
            let resp = self.inner.http.send("logout", Retry::Idempotent, |c| c.delete(url.clone())).await?;
            if !resp.status().is_success() && resp.status().as_u16() != 401 {
                return Err(self.error_from("logout", "session", resp).await);
            }
        }
        Ok(())
    }

    pub(super) fn apply(rb: reqwest::RequestBuilder, creds: &Creds) -> reqwest::RequestBuilder {
        match &creds.cred {
            Cred::Session(id) => rb.header("X-Requested-By", id.as_str()),
            Cred::Bearer(t) => rb.bearer_auth(t),
        }
    }

    /// Sends an authenticated request; on 401 logs in again once (single flight) and resends
    /// it. Non-success statuses become typed errors (`what` names the object for NotFound).
    pub(super) async fn call<F>(
        &self,
        operation: &'static str,
        what: &str,
        retry: Retry,
        build: F,
    ) -> Result<reqwest::Response, OtmmError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        // OTMM answers 500 for transient trouble too (API-NOTES: "5xx → transient"), which the
        // shared policy never retries; idempotent calls get a few extra tries here.
        let mut server_error_retries =
            if retry == Retry::Idempotent { self.inner.config.options.server_error_retries } else { 0 };
        let mut round: u64 = 0;
        loop {
            let creds = self.creds().await?;
            let resp = self.inner.http.send(operation, retry, |c| Self::apply(build(c), &creds)).await?;
            let resp =
                if resp.status().as_u16() == 401 && !matches!(self.inner.config.auth, OtmmAuth::Token(_)) {
                    drop(resp);
                    let fresh = self.relogin(creds.generation).await?;
                    self.inner.http.send(operation, retry, |c| Self::apply(build(c), &fresh)).await?
                } else {
                    resp
                };
            if resp.status().as_u16() == 500 && server_error_retries > 0 {
                server_error_retries -= 1;
                round += 1;
                drop(resp);
                let wait = self.inner.config.policy.base_backoff_ms.saturating_mul(round);
                tracing::debug!(
                    system = SYSTEM,
                    operation,
                    wait_ms = wait,
                    reason = "status 500",
                    "retrying"
                );
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                continue;
            }
            return if resp.status().is_success() {
                Ok(resp)
            } else {
                Err(self.error_from(operation, what, resp).await)
            };
        }
    }

    pub(super) async fn error_from(
        &self,
        operation: &'static str,
        what: &str,
        resp: reqwest::Response,
    ) -> OtmmError {
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = resp.bytes().await.unwrap_or_default();
        from_status(operation, what, status, retry_after, &body)
    }

    pub(super) async fn body(
        &self,
        operation: &'static str,
        resp: reqwest::Response,
    ) -> Result<Bytes, OtmmError> {
        resp.bytes().await.map_err(|e| {
            if e.is_timeout() {
                // The answer began and stopped arriving: not whole, like a truncated one, so
                // an idempotent read is asked again (`call_json`'s reread).
                OtmmError::unreadable(
                    operation,
                    format!(
                        "the body stopped arriving (no bytes for {} ms)",
                        self.inner.config.policy.request_timeout_ms
                    ),
                )
            } else {
                OtmmError::unreadable(operation, format!("the body could not be read: {e}"))
            }
        })
    }

    pub(super) async fn json(
        &self,
        operation: &'static str,
        resp: reqwest::Response,
    ) -> Result<Value, OtmmError> {
        let body = self.body(operation, resp).await?;
        decode_json(operation, &body)
    }

    /// [`call`](Self::call) then the JSON body, asked again (idempotent requests only) while
    /// the answer is unreadable: cut short, not JSON, a proxy's page.
    pub(super) async fn call_json<F>(
        &self,
        operation: &'static str,
        what: &str,
        retry: Retry,
        build: F,
    ) -> Result<Value, OtmmError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        self.inner
            .http
            .reread(operation, retry, || async {
                let resp = self.call(operation, what, retry, &build).await?;
                self.json(operation, resp).await
            })
            .await
    }

    /// For unauthenticated calls (login): status check, then JSON.
    pub(super) async fn json_ok(
        &self,
        operation: &'static str,
        what: &str,
        resp: reqwest::Response,
    ) -> Result<Value, OtmmError> {
        if !resp.status().is_success() {
            return Err(self.error_from(operation, what, resp).await);
        }
        self.json(operation, resp).await
    }

    pub(super) fn asset_list(
        operation: &'static str,
        v: &Value,
        path: &str,
    ) -> Result<Vec<OtmmAsset>, OtmmError> {
        match v.pointer(&format!("/{}", path.replace('.', "/"))) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, a)| parse_asset(operation, a, &format!("{path}[{i}]")))
                .collect(),
            Some(other) => Err(OtmmError::protocol(
                operation,
                format!("expected JSON at {path}: an array, found {other}"),
            )),
        }
    }
}
