//! Connect OAuth (Standard accounts, `read_write`): the authorize URL, the
//! code exchange and deauthorization. No Stripe crate covers these, so
//! they are plain form POSTs to `{connect_base}/oauth/*`.
//!
//! They are not retried: a code is single-use, so re-sending an exchange
//! whose answer was lost would only turn a success into `invalid_grant`.

use payouts_domain::ids::AccountId;
use payouts_domain::ports::{FailureKind, GatewayError, OAuthGrant};
use secrecy::ExposeSecret;

use crate::error::{transport_error, unreadable};
use crate::gateway::StripeGateway;
use crate::wire;

/// Maps an OAuth error (`{"error": "invalid_grant", …}`) to the domain.
fn oauth_error(status: u16, body: &[u8]) -> GatewayError {
    let parsed: wire::OAuthError = serde_json::from_slice(body).unwrap_or_default();
    let kind = match (status, parsed.error.as_deref()) {
        (429, _) => FailureKind::RateLimited,
        (500.., _) => FailureKind::Ambiguous,
        // invalid_grant (unknown, used or expired code), invalid_client,
        // invalid_request, unsupported_grant_type, …
        (_, Some(_)) | (_, None) => FailureKind::InvalidRequest,
    };
    GatewayError::new(
        kind,
        parsed.error.as_deref(),
        format!(
            "OAuth HTTP {status}: {}",
            parsed
                .error_description
                .as_deref()
                .unwrap_or("no description")
        ),
    )
}

impl StripeGateway {
    /// `{connect_base}/oauth/authorize?response_type=code&client_id=…&scope=read_write&state=…`
    /// (plus `redirect_uri` when configured).
    pub fn oauth_authorize_url(&self, state: &str) -> String {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("scope", "read_write"),
            ("state", state),
        ];
        if let Some(redirect) = &self.redirect_uri {
            params.push(("redirect_uri", redirect.as_str()));
        }
        let base = format!("{}/oauth/authorize", self.connect_base);
        match reqwest::Url::parse_with_params(&base, &params) {
            Ok(url) => url.to_string(),
            // The base was validated at construction; keep the unencoded
            // form rather than fail an infallible port method.
            Err(_) => format!(
                "{base}?response_type=code&client_id={}&scope=read_write&state={state}",
                self.client_id
            ),
        }
    }

    async fn oauth_post(&self, path: &str, form: &[(&str, &str)]) -> Result<Vec<u8>, GatewayError> {
        self.transport.pacer().acquire(None, "POST", path).await;
        let sent = std::time::Instant::now();
        let log = |status: Option<u16>, request_id: Option<&str>| {
            crate::transport::log_call(&crate::transport::CallLog {
                method: "POST",
                path,
                status,
                elapsed: sent.elapsed(),
                request_id,
                call: crate::transport::Call::default(),
                attempt: 1,
            });
        };
        let response = self
            .http
            .post(format!("{}{path}", self.connect_base))
            .bearer_auth(self.secret_key.expose_secret())
            .form(form)
            .send()
            .await
            .map_err(|e| {
                log(None, None);
                transport_error(&e)
            })?;
        let status = response.status().as_u16();
        log(
            Some(status),
            response
                .headers()
                .get("request-id")
                .and_then(|v| v.to_str().ok()),
        );
        let body = response.bytes().await.map_err(|e| transport_error(&e))?;
        if (200..300).contains(&status) {
            Ok(body.to_vec())
        } else {
            Err(oauth_error(status, &body))
        }
    }

    /// Exchanges an authorization code for the merchant's account id.
    ///
    /// # Errors
    /// [`FailureKind::InvalidRequest`] for an unknown, used or expired code
    /// (`invalid_grant`); `Ambiguous` for transport failures and 5xx.
    pub async fn oauth_exchange_code(&self, code: &str) -> Result<OAuthGrant, GatewayError> {
        let body = self
            .oauth_post(
                "/oauth/token",
                &[("grant_type", "authorization_code"), ("code", code)],
            )
            .await?;
        let token: wire::OAuthToken =
            serde_json::from_slice(&body).map_err(|e| unreadable("OAuth token", e))?;
        Ok(OAuthGrant {
            account_id: wire::parse_id(AccountId::parse(token.stripe_user_id), "stripe_user_id")?,
            scope: token.scope,
            livemode: token.livemode,
        })
    }

    /// Revokes the platform's access to a connected account.
    ///
    /// # Errors
    /// `InvalidRequest` when the account is not connected to this platform.
    pub async fn oauth_deauthorize(&self, account: &AccountId) -> Result<(), GatewayError> {
        self.oauth_post(
            "/oauth/deauthorize",
            &[
                ("client_id", self.client_id.as_str()),
                ("stripe_user_id", account.as_str()),
            ],
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_errors_map_to_the_domain() {
        let e = oauth_error(
            400,
            br#"{"error":"invalid_grant","error_description":"used"}"#,
        );
        assert_eq!(e.kind, FailureKind::InvalidRequest);
        assert_eq!(e.code.as_deref(), Some("invalid_grant"));
        assert!(e.message.contains("used"));
        assert_eq!(oauth_error(503, b"").kind, FailureKind::Ambiguous);
        assert_eq!(oauth_error(429, b"{}").kind, FailureKind::RateLimited);
        assert_eq!(oauth_error(401, b"nope").kind, FailureKind::InvalidRequest);
    }
}
