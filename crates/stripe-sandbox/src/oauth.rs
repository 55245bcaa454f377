//! Stripe Connect OAuth: `POST /oauth/token` and `POST /oauth/deauthorize`.
//!
//! These endpoints are not in the OpenAPI spec and answer with OAuth's own
//! error shape (`{"error": "invalid_grant", "error_description": "..."}`).
//! The authorize page (`https://connect.stripe.com/oauth/authorize`) is not
//! served: register a code with `POST /_sandbox/oauth/codes` instead.

use serde_json::{Value, json};

use crate::api::PendingEvent;
use crate::ids::{new_id, random_alnum};
use crate::server::{Inner, lock_world};
use crate::state::Account;

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn oauth_error(status: u16, error: &str, description: impl Into<String>) -> (u16, Value) {
    (
        status,
        json!({"error": error, "error_description": description.into()}),
    )
}

fn authenticated(form: &[(String, String)], bearer: Option<&str>) -> bool {
    bearer
        .or_else(|| field(form, "client_secret"))
        .is_some_and(|k| k.starts_with("sk_"))
}

fn tokens(account: &str) -> Value {
    json!({
        "access_token": format!("sk_test_{}", random_alnum(32)),
        "refresh_token": format!("rt_{}", random_alnum(32)),
        "token_type": "bearer",
        "stripe_publishable_key": format!("pk_test_{}", random_alnum(32)),
        "stripe_user_id": account,
        "scope": "read_write",
        "livemode": false
    })
}

/// `POST /oauth/token` with `grant_type=authorization_code` or `refresh_token`.
pub(crate) fn token(
    inner: &Inner,
    form: &[(String, String)],
    bearer: Option<&str>,
) -> (u16, Value) {
    if !authenticated(form, bearer) {
        return oauth_error(
            401,
            "invalid_client",
            "No authentication was provided. Send your secret API key using the Authorization header, or as a client_secret POST parameter.",
        );
    }
    match field(form, "grant_type") {
        None => oauth_error(400, "invalid_request", "No grant type specified"),
        Some("authorization_code") => {
            let Some(code) = field(form, "code") else {
                return oauth_error(400, "invalid_request", "No authorization code provided");
            };
            lock_world(inner, |w, now| {
                let Some(grant) = w.oauth_codes.get_mut(code) else {
                    return oauth_error(
                        400,
                        "invalid_grant",
                        format!("Authorization code does not exist: {code}"),
                    );
                };
                if grant.used {
                    return oauth_error(
                        400,
                        "invalid_grant",
                        format!(
                            "This authorization code has already been used. All tokens issued with this code have been revoked. ({code})"
                        ),
                    );
                }
                grant.used = true;
                let account = match grant.account.clone() {
                    Some(a) => a,
                    None => {
                        // A fresh, already-onboarded standard account: OAuth
                        // connects accounts that exist on Stripe already.
                        let seq = w.next_seq();
                        let mut a = Account::new(new_id("acct_"), seq, now, "standard");
                        a.complete_onboarding();
                        let id = a.id.clone();
                        w.accounts.insert(id.clone(), a);
                        id
                    }
                };
                if let Some(a) = w.accounts.get_mut(&account) {
                    a.deauthorized = false;
                }
                let body = tokens(&account);
                if let Some(rt) = body.get("refresh_token").and_then(Value::as_str) {
                    w.oauth_tokens.insert(rt.to_owned(), account.clone());
                }
                (200, body)
            })
        }
        Some("refresh_token") => {
            let Some(rt) = field(form, "refresh_token") else {
                return oauth_error(400, "invalid_request", "No refresh token provided");
            };
            lock_world(inner, |w, _| match w.oauth_tokens.get(rt).cloned() {
                Some(account) if w.accounts.get(&account).is_some_and(|a| !a.deauthorized) => {
                    (200, tokens(&account))
                }
                _ => oauth_error(400, "invalid_grant", format!("Invalid refresh token: {rt}")),
            })
        }
        Some(other) => oauth_error(
            400,
            "unsupported_grant_type",
            format!("Unsupported grant type: {other}"),
        ),
    }
}

/// `POST /oauth/deauthorize` with `client_id` and `stripe_user_id`.
pub(crate) fn deauthorize(
    inner: &Inner,
    form: &[(String, String)],
) -> (u16, Value, Vec<PendingEvent>) {
    let Some(client_id) = field(form, "client_id") else {
        let (s, b) = oauth_error(400, "invalid_request", "No client_id provided");
        return (s, b, Vec::new());
    };
    let Some(user) = field(form, "stripe_user_id") else {
        let (s, b) = oauth_error(400, "invalid_request", "No stripe_user_id provided");
        return (s, b, Vec::new());
    };
    lock_world(inner, |w, _| match w.accounts.get_mut(user) {
        Some(a) if !a.deauthorized && a.id != w.platform_id => {
            a.deauthorized = true;
            let event = PendingEvent {
                kind: "account.application.deauthorized".to_owned(),
                account: Some(user.to_owned()),
                object: json!({"id": client_id, "object": "application", "name": null}),
            };
            (200, json!({"stripe_user_id": user}), vec![event])
        }
        _ => {
            let (s, b) = oauth_error(
                400,
                "invalid_client",
                format!(
                    "Stripe account {user} is not connected to client {client_id}, or that account does not exist."
                ),
            );
            (s, b, Vec::new())
        }
    })
}
