//! `payouts token`: mints an API token with the service's JWT secret.

use payouts_http::{JwtSecret, Role};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use crate::cli::{CliError, TokenArgs};

/// Mints the token `args` describe, signed with `secret`
/// (`PAYOUTS_JWT_SECRET`).
///
/// # Errors
/// [`CliError::Config`] when the secret is missing or too short, or when a
/// `partner` token lacks `--partner` (or `--partner` is given without it).
pub fn mint(args: &TokenArgs, secret: Option<&SecretString>) -> Result<String, CliError> {
    let secret = secret.ok_or_else(|| {
        CliError::Config(
            "PAYOUTS_JWT_SECRET is not set: export the service's JWT secret (at least 32 bytes) \
             to mint tokens"
                .to_owned(),
        )
    })?;
    let jwt = JwtSecret::new(secret.expose_secret().as_bytes())
        .map_err(|e| CliError::Config(format!("PAYOUTS_JWT_SECRET: {e}")))?;
    let partner_role = args.roles.contains(&Role::Partner);
    match (partner_role, args.partner) {
        (true, None) => {
            return Err(CliError::Config(
                "a `partner` token needs --partner PARTNER_ID".to_owned(),
            ));
        }
        (false, Some(_)) => {
            return Err(CliError::Config(
                "--partner is only for tokens with the `partner` role".to_owned(),
            ));
        }
        (true, Some(_)) | (false, None) => {}
    }
    let subject = args.subject.trim();
    if subject.is_empty() {
        return Err(CliError::Config("--subject must not be blank".to_owned()));
    }
    let mut roles = args.roles.clone();
    roles.dedup();
    let claims = payouts_http::auth::claims(
        subject,
        roles,
        &args.merchant,
        args.partner,
        OffsetDateTime::now_utc(),
        Duration::hours(i64::from(args.ttl_hours)),
    );
    jwt.mint(&claims)
        .map_err(|e| CliError::Config(format!("signing the token failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> TokenArgs {
        let mut full = vec!["payouts", "token"];
        full.extend_from_slice(argv);
        match crate::cli::Cli::parse_from(full).command {
            crate::cli::Command::Token(a) => a,
            _ => panic!("not token"),
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_minted_token_verifies_with_the_same_secret() {
        let secret = SecretString::from(SECRET);
        let token = mint(
            &args(&["--role", "tenant_admin", "--merchant", "merchant_123"]),
            Some(&secret),
        )
        .unwrap();
        let claims = JwtSecret::new(SECRET).unwrap().verify(&token).unwrap();
        assert_eq!(claims.roles, vec![Role::TenantAdmin]);
        assert_eq!(claims.merchant_id, "merchant_123");
        assert_eq!(Some(claims.exp - 24 * 3600), claims.iat);
    }

    #[test]
    fn missing_or_short_secrets_and_partner_mismatches_are_refused() {
        let a = args(&["--role", "manager", "--merchant", "m_1"]);
        let e = mint(&a, None).unwrap_err().to_string();
        assert!(e.contains("PAYOUTS_JWT_SECRET is not set"), "{e}");
        let e = mint(&a, Some(&SecretString::from("short")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 32 bytes"), "{e}");
        let secret = SecretString::from(SECRET);
        let p = args(&["--role", "partner", "--merchant", "m_1"]);
        assert!(mint(&p, Some(&secret)).is_err());
        let p = args(&[
            "--role",
            "manager",
            "--merchant",
            "m_1",
            "--partner",
            "7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
        ]);
        assert!(mint(&p, Some(&secret)).is_err());
    }
}
