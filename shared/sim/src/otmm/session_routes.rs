//! Sessions: login (form), the current session, logout, OAuth2 password tokens, and how a
//! caller is recognised (bearer token, or session with its CSRF header).

use super::*;

/// Who is calling: a bearer token, or a session by `otmmauthtoken` or the `JSESSIONID`
/// cookie; session callers must also send `X-Requested-By: <session id>` (OTMM's CSRF guard).
/// A mismatch answers 401 too, so a client holding a stale session id logs in again.
pub(super) fn authenticate(sh: &Shared, headers: &HeaderMap) -> Result<String, Response> {
    let st = sh.lock();
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = auth.strip_prefix("Bearer ").unwrap_or_default().trim();
        return st
            .tokens
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, u)| u.clone())
            .ok_or_else(|| unauthorized("the bearer token is not valid or has expired"));
    }
    let session = if let Some(digest) = headers.get("otmmauthtoken").and_then(|v| v.to_str().ok()) {
        st.sessions.iter().find(|s| s.digest == digest)
    } else if let Some(id) = cookie(headers, "JSESSIONID") {
        st.sessions.iter().find(|s| s.jsessionid == id)
    } else {
        return Err(unauthorized("no session: log in at /otmmapi/v6/sessions"));
    };
    let Some(session) = session else {
        return Err(unauthorized("the session is not valid or has expired"));
    };
    let csrf = headers.get("x-requested-by").and_then(|v| v.to_str().ok()).map(str::trim);
    if csrf != Some(session.id.to_string().as_str()) {
        return Err(unauthorized("header X-Requested-By must carry the session id"));
    }
    Ok(session.user.clone())
}

pub(super) fn session_json(s: &Session) -> Value {
    json!({"session_resource": {"session": {
        "id": s.id,
        "login_name": s.user,
        "user_id": "1001",
        "user_full_name": "Simulated Super User",
        "message_digest": s.digest,
        "validation_key": s.digest,
        "role_name": "Administrator",
        "domain_name": "OTMM",
    }}})
}

pub(super) async fn login(State(sh): Sh, Path(v): Path<String>, body: Bytes) -> Response {
    if let Err(r) = check_version(&v) {
        return r;
    }
    let f = form(&body);
    let (Some(user), Some(pass)) = (f.get("username"), f.get("password")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "form fields username and password are required",
        );
    };
    if *user != sh.options.username || *pass != sh.options.password {
        return unauthorized("invalid user name or password");
    }
    let mut st = sh.lock();
    st.next_session += 1;
    let session =
        Session { id: st.next_session, user: user.clone(), jsessionid: st.hex(32), digest: st.hex(40) };
    let body = session_json(&session);
    let cookie = format!("JSESSIONID={}; Path=/; HttpOnly", session.jsessionid);
    st.sessions.push(session);
    let mut resp = Json(body).into_response();
    if let Ok(c) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

pub(super) async fn current_session(State(sh): Sh, Path(v): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = check_version(&v) {
        return r;
    }
    let Some(id) = cookie(&headers, "JSESSIONID") else { return unauthorized("no session cookie") };
    let st = sh.lock();
    match st.sessions.iter().find(|s| s.jsessionid == id) {
        Some(s) => Json(session_json(s)).into_response(),
        None => unauthorized("the session is not valid or has expired"),
    }
}

pub(super) async fn logout(State(sh): Sh, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, "JSESSIONID") {
        sh.lock().sessions.retain(|s| s.jsessionid != id);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Shape from pyxecm `authenticate()`: `token_info.oauth_token.accessToken`.
pub(super) async fn oauth_token(State(sh): Sh, Path(v): Path<String>, body: Bytes) -> Response {
    if let Err(r) = check_version(&v) {
        return r;
    }
    let f = form(&body);
    if f.get("grant_type").map(String::as_str) != Some("password") {
        return error(StatusCode::BAD_REQUEST, "INVALID_GRANT", "grant_type must be password");
    }
    if f.get("client_id").is_none_or(|c| c.is_empty()) || f.get("client_secret").is_none_or(|c| c.is_empty())
    {
        return unauthorized("client_id and client_secret are required");
    }
    if f.get("username") != Some(&sh.options.username) || f.get("password") != Some(&sh.options.password) {
        return unauthorized("invalid user name or password");
    }
    let mut st = sh.lock();
    let token = st.hex(40);
    st.tokens.push((token.clone(), sh.options.username.clone()));
    Json(json!({"token_info": {"oauth_token": {
        "accessToken": token,
        "tokenType": "bearer",
        "expires_in": 3600,
    }}}))
    .into_response()
}
