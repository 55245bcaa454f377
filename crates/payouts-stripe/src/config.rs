//! The adapter's configuration. Secrets are [`SecretString`]s, so `Debug`
//! output and logs never show them.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// Stripe's public API host.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// Stripe's Connect (OAuth) host.
pub const DEFAULT_CONNECT_BASE: &str = "https://connect.stripe.com";
/// The default process-wide cap on Stripe calls per second, above the
/// per-account and per-operation budgets (see [`crate::pacer`]): high
/// enough never to bind for a few merchants; lower it when other software
/// shares the key.
pub const DEFAULT_OPS_CAP: u32 = 10_000;
/// Stripe's own libraries accept signatures up to five minutes old.
pub const DEFAULT_WEBHOOK_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A value has the wrong shape (the value itself is never echoed: it may be a secret).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field or variable.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// How the adapter reaches Stripe.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// `sk_test_…`/`sk_live_…` (or a restricted `rk_…` key).
    pub secret_key: SecretString,
    /// The platform's Connect client id, `ca_…` (OAuth).
    pub client_id: String,
    /// Scheme, host and port of the REST API; default [`DEFAULT_API_BASE`].
    pub api_base: String,
    /// Scheme, host and port of Connect OAuth; default [`DEFAULT_CONNECT_BASE`].
    pub connect_base: String,
    /// Where Stripe sends the merchant back after OAuth; Stripe uses the
    /// dashboard's default redirect when `None`.
    pub redirect_uri: Option<String>,
    /// A process-wide cap on calls per second, above the per-account and
    /// per-operation budgets; `None` is [`DEFAULT_OPS_CAP`]. Lower it when
    /// other software shares the key.
    pub ops_per_second: Option<u32>,
    /// Whose budgets to pace to, live or test; `None` reads the key's mode
    /// (`sk_test_`/`rk_test_`: test, else live).
    pub limit_mode: Option<crate::pacer::LimitMode>,
    /// Per connected account (Stripe's rule) or one budget for the platform.
    pub limit_scope: crate::pacer::LimitScope,
    /// Attempts per call, the first included (default 3). Every attempt of
    /// a write carries the same idempotency key.
    pub max_attempts: u32,
    /// First backoff delay (default 250 ms), doubled per retry, with jitter.
    pub backoff_base: Duration,
    /// Largest backoff delay (default 4 s).
    pub backoff_max: Duration,
    /// Per-attempt timeout (default 30 s); a timeout is an ambiguous outcome.
    pub request_timeout: Duration,
    /// Webhook endpoint secrets, `whsec_…`; several at once during rotation.
    pub webhook_secrets: Vec<SecretString>,
    /// Largest accepted age (and clock skew) of a webhook signature (default 300 s).
    pub webhook_tolerance: Duration,
}

impl StripeConfig {
    /// A configuration with every default: Stripe's hosts, 3 attempts,
    /// 250 ms–4 s backoff, 30 s timeouts, 300 s webhook tolerance.
    pub fn new(secret_key: SecretString, client_id: impl Into<String>) -> Self {
        StripeConfig {
            secret_key,
            client_id: client_id.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
            connect_base: DEFAULT_CONNECT_BASE.to_owned(),
            redirect_uri: None,
            ops_per_second: None,
            limit_mode: None,
            limit_scope: crate::pacer::LimitScope::Account,
            max_attempts: 3,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(4),
            request_timeout: Duration::from_secs(30),
            webhook_secrets: Vec::new(),
            webhook_tolerance: DEFAULT_WEBHOOK_TOLERANCE,
        }
    }

    /// Reads `STRIPE_SECRET_KEY`, `STRIPE_CLIENT_ID`, `STRIPE_WEBHOOK_SECRET`
    /// (comma-separated for rotation), `STRIPE_API_BASE` and
    /// `STRIPE_CONNECT_BASE` through `var` (pass `|k| std::env::var(k).ok()`).
    ///
    /// # Errors
    /// [`ConfigError`] when the key or client id is missing, or a value is malformed.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let key = var("STRIPE_SECRET_KEY")
            .filter(|k| !k.trim().is_empty())
            .ok_or(ConfigError::Missing("STRIPE_SECRET_KEY"))?;
        let client_id = var("STRIPE_CLIENT_ID")
            .filter(|k| !k.trim().is_empty())
            .ok_or(ConfigError::Missing("STRIPE_CLIENT_ID"))?;
        let mut config = StripeConfig::new(SecretString::from(key.trim().to_owned()), client_id);
        if let Some(base) = var("STRIPE_API_BASE").filter(|b| !b.trim().is_empty()) {
            config.api_base = base.trim().to_owned();
        }
        if let Some(base) = var("STRIPE_CONNECT_BASE").filter(|b| !b.trim().is_empty()) {
            config.connect_base = base.trim().to_owned();
        }
        if let Some(secrets) = var("STRIPE_WEBHOOK_SECRET") {
            config.webhook_secrets = secrets
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| SecretString::from(s.to_owned()))
                .collect();
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the shapes of the key, client id and bases.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key = self.secret_key.expose_secret();
        if !(key.starts_with("sk_") || key.starts_with("rk_")) || key.contains(char::is_whitespace)
        {
            return Err(ConfigError::Invalid {
                field: "secret_key",
                reason: "must be an `sk_…` or `rk_…` key".to_owned(),
            });
        }
        if !self.client_id.starts_with("ca_") {
            return Err(ConfigError::Invalid {
                field: "client_id",
                reason: "must start with `ca_`".to_owned(),
            });
        }
        for (field, base) in [
            ("api_base", &self.api_base),
            ("connect_base", &self.connect_base),
        ] {
            let url = reqwest::Url::parse(base).map_err(|e| ConfigError::Invalid {
                field,
                reason: e.to_string(),
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be an http(s) URL with a host".to_owned(),
                });
            }
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::Invalid {
                field: "max_attempts",
                reason: "must be at least 1".to_owned(),
            });
        }
        if self.ops_per_second == Some(0) {
            return Err(ConfigError::Invalid {
                field: "ops_per_second",
                reason: "must be at least 1".to_owned(),
            });
        }
        for secret in &self.webhook_secrets {
            if !secret.expose_secret().starts_with("whsec_") {
                return Err(ConfigError::Invalid {
                    field: "webhook_secrets",
                    reason: "every secret must start with `whsec_`".to_owned(),
                });
            }
        }
        Ok(())
    }

    /// True for `sk_test_…` and `rk_test_…` keys.
    pub fn is_test_mode(&self) -> bool {
        let key = self.secret_key.expose_secret();
        key.starts_with("sk_test_") || key.starts_with("rk_test_")
    }

    /// The mode whose budgets apply: the configured one, else the key's.
    pub fn effective_limit_mode(&self) -> crate::pacer::LimitMode {
        self.limit_mode.unwrap_or(if self.is_test_mode() {
            crate::pacer::LimitMode::Test
        } else {
            crate::pacer::LimitMode::Live
        })
    }

    /// The pacer's budgets: just under Stripe's for the mode (live 96/s per
    /// account and 24/s per operation, test 24 and 24), under the cap.
    pub fn effective_budgets(&self) -> crate::pacer::Budgets {
        crate::pacer::Budgets::for_mode(
            self.effective_limit_mode(),
            self.ops_per_second.unwrap_or(DEFAULT_OPS_CAP),
            self.limit_scope,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| owned.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn reads_env_with_defaults_and_rotation() {
        let c = StripeConfig::from_vars(vars(&[
            ("STRIPE_SECRET_KEY", "sk_test_abc"),
            ("STRIPE_CLIENT_ID", "ca_123"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_old, whsec_new"),
        ]))
        .unwrap();
        assert_eq!(c.api_base, DEFAULT_API_BASE);
        assert_eq!(c.connect_base, DEFAULT_CONNECT_BASE);
        assert_eq!(c.webhook_secrets.len(), 2);
        assert_eq!(c.webhook_secrets[1].expose_secret(), "whsec_new");
        assert_eq!(c.effective_budgets().per_operation, 24);
        assert_eq!(c.effective_budgets().per_account, 24);
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.webhook_tolerance, Duration::from_secs(300));
    }

    #[test]
    fn live_keys_default_to_100_ops() {
        let mut c = StripeConfig::new(SecretString::from("sk_live_x"), "ca_1");
        assert!(!c.is_test_mode());
        assert_eq!(c.effective_budgets().per_account, 96);
        assert_eq!(c.effective_budgets().per_operation, 24);
        assert_eq!(c.effective_budgets().cap, DEFAULT_OPS_CAP);
        c.ops_per_second = Some(7);
        assert_eq!(c.effective_budgets().cap, 7);
        c.limit_mode = Some(crate::pacer::LimitMode::Test);
        assert_eq!(c.effective_budgets().per_account, 24);
        let restricted = StripeConfig::new(SecretString::from("rk_test_x"), "ca_1");
        assert_eq!(restricted.effective_budgets().per_account, 24);
    }

    #[test]
    fn refuses_bad_values_without_echoing_them() {
        let err = StripeConfig::from_vars(vars(&[
            ("STRIPE_SECRET_KEY", "pk_test_oops"),
            ("STRIPE_CLIENT_ID", "ca_1"),
        ]))
        .unwrap_err();
        assert!(!err.to_string().contains("pk_test_oops"));
        assert!(matches!(
            StripeConfig::from_vars(vars(&[("STRIPE_CLIENT_ID", "ca_1")])),
            Err(ConfigError::Missing("STRIPE_SECRET_KEY"))
        ));
        let bad_base = StripeConfig::from_vars(vars(&[
            ("STRIPE_SECRET_KEY", "sk_test_1"),
            ("STRIPE_CLIENT_ID", "ca_1"),
            ("STRIPE_API_BASE", "not a url"),
        ]));
        assert!(matches!(
            bad_base,
            Err(ConfigError::Invalid {
                field: "api_base",
                ..
            })
        ));
        let bad_secret = StripeConfig::from_vars(vars(&[
            ("STRIPE_SECRET_KEY", "sk_test_1"),
            ("STRIPE_CLIENT_ID", "ca_1"),
            ("STRIPE_WEBHOOK_SECRET", "nope"),
        ]));
        assert!(bad_secret.is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut c = StripeConfig::new(SecretString::from("sk_test_supersecret"), "ca_1");
        c.webhook_secrets = vec![SecretString::from("whsec_hidden")];
        let shown = format!("{c:?}");
        assert!(!shown.contains("supersecret"));
        assert!(!shown.contains("hidden"));
    }
}
