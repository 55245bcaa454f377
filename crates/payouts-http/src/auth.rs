//! JWT bearer auth: HS256 tokens carrying `sub`, `roles[]`, `merchant_id`
//! and an optional `partner_id`; seed 002's roles plus `partner`; tenant
//! scoping (a non-platform role sees only its own merchant, a partner only
//! its own history).

use std::fmt;
use std::future::{Ready, ready};
use std::str::FromStr;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use payouts_domain::ids::{MerchantId, PartnerId};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::ApiError;

/// A role a token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Point-of-sale staff (seed 002): payments for their merchant.
    PosStaff,
    /// Payments administrator of a merchant.
    PaymentAdmin,
    /// Administrator of a merchant (tenant).
    TenantAdmin,
    /// The platform's operators: every merchant.
    PlatformAdmin,
    /// System administrators: every merchant.
    SystemAdmin,
    /// Everything.
    SuperAdmin,
    /// A merchant's integration (API client).
    IntegrationAdmin,
    /// A merchant's manager.
    Manager,
    /// A partner: their own payout history only.
    Partner,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 9] = [
        Role::PosStaff,
        Role::PaymentAdmin,
        Role::TenantAdmin,
        Role::PlatformAdmin,
        Role::SystemAdmin,
        Role::SuperAdmin,
        Role::IntegrationAdmin,
        Role::Manager,
        Role::Partner,
    ];

    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Role::PosStaff => "pos_staff",
            Role::PaymentAdmin => "payment_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::PlatformAdmin => "platform_admin",
            Role::SystemAdmin => "system_admin",
            Role::SuperAdmin => "super_admin",
            Role::IntegrationAdmin => "integration_admin",
            Role::Manager => "manager",
            Role::Partner => "partner",
        }
    }

    /// True for roles that see every merchant.
    pub const fn is_platform(&self) -> bool {
        match self {
            Role::PlatformAdmin | Role::SystemAdmin | Role::SuperAdmin => true,
            Role::PosStaff
            | Role::PaymentAdmin
            | Role::TenantAdmin
            | Role::IntegrationAdmin
            | Role::Manager
            | Role::Partner => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`; one of: {}", role_names()))
    }
}

fn role_names() -> String {
    Role::ALL
        .iter()
        .map(Role::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The claims of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who (a user or client id).
    pub sub: String,
    /// What they may do.
    pub roles: Vec<Role>,
    /// Their merchant (tenant).
    pub merchant_id: String,
    /// For `partner` tokens, which partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// Expiry, seconds since the epoch (required).
    pub exp: i64,
    /// Issued at, seconds since the epoch; optional (RFC 7519), and not
    /// checked: `exp` and `nbf` bound a token's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before, seconds since the epoch: a token is refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// The HS256 secret tokens are signed with. Its `Debug` never shows it.
#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

impl JwtSecret {
    /// Wraps a secret; at least 32 bytes.
    ///
    /// # Errors
    /// When the secret is shorter than 32 bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, String> {
        let bytes = secret.into();
        if bytes.len() < 32 {
            return Err("the JWT secret must be at least 32 bytes".to_owned());
        }
        Ok(JwtSecret(bytes))
    }

    /// Signs a token for `claims`.
    ///
    /// # Errors
    /// When signing fails (it does not for HS256 with a valid key).
    pub fn mint(&self, claims: &Claims) -> Result<String, String> {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(&self.0),
        )
        .map_err(|e| e.to_string())
    }

    /// Verifies a token's signature, expiry (`exp`, required) and start
    /// (`nbf`, when present) and returns its claims. `sub` is required;
    /// `iat` is not.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`] for a forged, expired, not yet valid or
    /// malformed token.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&self.0), &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                let why = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired",
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        "the token is not valid yet (nbf)"
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "the token's signature is invalid"
                    }
                    _ => "the token is malformed",
                };
                ApiError::Unauthorized(why.to_owned())
            })
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

/// Claims for a new token valid for `ttl` from `now`.
pub fn claims(
    sub: &str,
    roles: Vec<Role>,
    merchant: &MerchantId,
    partner: Option<PartnerId>,
    now: OffsetDateTime,
    ttl: Duration,
) -> Claims {
    Claims {
        sub: sub.to_owned(),
        roles,
        merchant_id: merchant.to_string(),
        partner_id: partner.map(|p| p.to_string()),
        exp: now.saturating_add(ttl).unix_timestamp(),
        iat: Some(now.unix_timestamp()),
        nbf: None,
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `sub`.
    pub subject: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Their merchant.
    pub merchant_id: MerchantId,
    /// Their partner, for partner tokens.
    pub partner_id: Option<PartnerId>,
}

impl Principal {
    /// From verified claims.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`] when the claims carry an invalid merchant or partner id.
    pub fn from_claims(c: Claims) -> Result<Self, ApiError> {
        let merchant_id = MerchantId::parse(c.merchant_id).map_err(|e| {
            ApiError::Unauthorized(format!("the token's merchant_id is invalid: {e}"))
        })?;
        let partner_id = c
            .partner_id
            .map(|p| PartnerId::parse(&p))
            .transpose()
            .map_err(|e| {
                ApiError::Unauthorized(format!("the token's partner_id is invalid: {e}"))
            })?;
        if c.roles.is_empty() {
            return Err(ApiError::Unauthorized("the token has no roles".to_owned()));
        }
        Ok(Principal {
            subject: c.sub,
            roles: c.roles,
            merchant_id,
            partner_id,
        })
    }

    /// Allows the call when the caller has one of `allowed`.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`].
    pub fn require(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if self.roles.iter().any(|r| allowed.contains(r)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// True for callers that see every merchant.
    pub fn is_platform(&self) -> bool {
        self.roles.iter().any(Role::is_platform)
    }

    /// Who is acting, for the audit trail: the token's `sub` and roles, in
    /// the request being served (its `Request-Id`).
    pub fn acting(&self) -> payouts_domain::audit::Acting {
        payouts_domain::audit::Acting::new(
            payouts_domain::audit::Actor::user(
                &self.subject,
                self.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            ),
            crate::request_log::current().as_deref(),
        )
    }

    /// The caller, as the engine's tenancy rules see it.
    pub fn caller(&self) -> payouts_domain::platform::Caller {
        if self.is_platform() {
            payouts_domain::platform::Caller::Platform
        } else {
            payouts_domain::platform::Caller::Merchant(self.merchant_id.clone())
        }
    }

    /// Allows access to `merchant`'s objects. Another merchant's objects
    /// answer 404, as if they did not exist.
    ///
    /// # Errors
    /// [`ApiError::NotFound`] naming `entity`.
    pub fn scope(&self, merchant: &MerchantId, entity: &str) -> Result<(), ApiError> {
        if self.is_platform() || self.merchant_id == *merchant {
            Ok(())
        } else {
            Err(ApiError::NotFound(entity.to_owned()))
        }
    }

    /// Allows access to a partner's own data: platform roles, the merchant's
    /// roles (other than `partner`), or the partner themselves.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub fn scope_partner(&self, merchant: &MerchantId, partner: PartnerId) -> Result<(), ApiError> {
        if self.is_platform() {
            return Ok(());
        }
        let merchant_staff = self.roles.iter().any(|r| *r != Role::Partner);
        if merchant_staff && self.merchant_id == *merchant {
            return Ok(());
        }
        if self.roles.contains(&Role::Partner)
            && self.partner_id == Some(partner)
            && self.merchant_id == *merchant
        {
            return Ok(());
        }
        Err(ApiError::NotFound("partner".to_owned()))
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let secret = req
        .app_data::<web::Data<JwtSecret>>()
        .ok_or_else(|| ApiError::Internal("no JWT secret configured".to_owned()))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer token".to_owned()))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not text".to_owned()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| {
            ApiError::Unauthorized("expected Authorization: Bearer <token>".to_owned())
        })?;
    Principal::from_claims(secret.verify(token.trim())?)
}

/// Who is acting, for the audit trail, when a console session's holder
/// acts: its subject and roles, in the request being served.
pub fn session_acting(
    principal: &payouts_domain::session::SessionPrincipal,
) -> payouts_domain::audit::Acting {
    payouts_domain::audit::Acting::new(
        payouts_domain::audit::Actor::user(&principal.subject, principal.roles.clone()),
        crate::request_log::current().as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> JwtSecret {
        JwtSecret::new("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn tokens_round_trip_and_forgeries_fail() {
        let m = MerchantId::parse("merchant_123").unwrap();
        let c = claims(
            "ops",
            vec![Role::Manager],
            &m,
            None,
            now(),
            Duration::hours(1),
        );
        let token = secret().mint(&c).unwrap();
        assert_eq!(secret().verify(&token).unwrap(), c);
        let other = JwtSecret::new("another-secret-another-secret-xx").unwrap();
        assert!(
            matches!(other.verify(&token), Err(ApiError::Unauthorized(m)) if m.contains("signature"))
        );
        let expired = claims(
            "ops",
            vec![Role::Manager],
            &m,
            None,
            now() - Duration::hours(2),
            Duration::hours(1),
        );
        let token = secret().mint(&expired).unwrap();
        assert!(
            matches!(secret().verify(&token), Err(ApiError::Unauthorized(m)) if m.contains("expired"))
        );
        assert!(secret().verify("not.a.token").is_err());
        assert!(JwtSecret::new("short").is_err());
        assert_eq!(format!("{:?}", secret()), "JwtSecret(<redacted>)");
    }

    #[test]
    fn a_token_before_its_nbf_is_refused_and_one_without_iat_is_accepted() {
        let m = MerchantId::parse("merchant_123").unwrap();
        let soon = Claims {
            nbf: Some((now() + Duration::minutes(5)).unix_timestamp()),
            ..claims(
                "ops",
                vec![Role::Manager],
                &m,
                None,
                now(),
                Duration::hours(1),
            )
        };
        let token = secret().mint(&soon).unwrap();
        assert!(
            matches!(secret().verify(&token), Err(ApiError::Unauthorized(m)) if m.contains("not valid yet")),
            "nbf in the future"
        );
        let started = Claims {
            nbf: Some((now() - Duration::minutes(5)).unix_timestamp()),
            ..soon.clone()
        };
        let token = secret().mint(&started).unwrap();
        assert_eq!(secret().verify(&token).unwrap(), started);
        // `iat` is optional: a token without it is accepted.
        let bare = Claims {
            iat: None,
            nbf: None,
            ..soon
        };
        let token = secret().mint(&bare).unwrap();
        assert!(!token.is_empty());
        assert_eq!(secret().verify(&token).unwrap(), bare);
    }

    #[test]
    fn roles_and_tenants() {
        let mine = MerchantId::parse("m1").unwrap();
        let theirs = MerchantId::parse("m2").unwrap();
        let staff = Principal {
            subject: "s".into(),
            roles: vec![Role::PosStaff],
            merchant_id: mine.clone(),
            partner_id: None,
        };
        assert!(staff.require(&[Role::PosStaff, Role::Manager]).is_ok());
        assert_eq!(
            staff.require(&[Role::PlatformAdmin]),
            Err(ApiError::Forbidden)
        );
        assert!(staff.scope(&mine, "batch").is_ok());
        assert_eq!(
            staff.scope(&theirs, "batch"),
            Err(ApiError::NotFound("batch".into()))
        );
        let admin = Principal {
            roles: vec![Role::PlatformAdmin],
            ..staff.clone()
        };
        assert!(admin.scope(&theirs, "batch").is_ok());
        let partner_id = PartnerId::from_uuid(uuid_like(7));
        let partner = Principal {
            roles: vec![Role::Partner],
            partner_id: Some(partner_id),
            ..staff.clone()
        };
        assert!(partner.scope_partner(&mine, partner_id).is_ok());
        assert!(
            partner
                .scope_partner(&mine, PartnerId::from_uuid(uuid_like(8)))
                .is_err()
        );
        assert!(staff.scope_partner(&mine, partner_id).is_ok());
        assert!(staff.scope_partner(&theirs, partner_id).is_err());
        assert_eq!("tenant_admin".parse::<Role>(), Ok(Role::TenantAdmin));
        assert!("root".parse::<Role>().is_err());
    }

    fn uuid_like(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }
}
