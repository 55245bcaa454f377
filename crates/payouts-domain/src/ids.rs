//! Identifiers: our own ids as UUID newtypes, Stripe's ids as validated
//! prefixed strings, and the validated keys users type (codes, referral keys).

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an identifier or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    /// What was being parsed, e.g. `"connected account id"`.
    pub kind: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl IdError {
    fn new(kind: &'static str, reason: impl Into<String>) -> Self {
        IdError {
            kind,
            reason: reason.into(),
        }
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                $name(id)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses the hyphenated UUID form.
            ///
            /// # Errors
            /// [`IdError`] when `text` is not a UUID.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                Uuid::parse_str(text)
                    .map($name)
                    .map_err(|e| IdError::new(stringify!($name), e.to_string()))
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}

uuid_id!(
    /// A partner program (one merchant can run several).
    ProgramId
);
uuid_id!(
    /// A partner (a person or company that earns commissions).
    PartnerId
);
uuid_id!(
    /// A partner's membership in one program.
    MembershipId
);
uuid_id!(
    /// A recorded conversion (a sale or signup).
    ConversionId
);
uuid_id!(
    /// A commission row, earned or adjustment.
    CommissionId
);
uuid_id!(
    /// A payout batch.
    BatchId
);
uuid_id!(
    /// One payout item: one transfer to one partner.
    PayoutItemId
);
uuid_id!(
    /// An outbox notification.
    NotificationId
);
uuid_id!(
    /// A merchant's webhook endpoint (where its notifications are POSTed).
    WebhookEndpointId
);
uuid_id!(
    /// One recorded delivery attempt of a notification to one target.
    DeliveryId
);
uuid_id!(
    /// One entry of the audit trail.
    AuditEventId
);

/// Checks the characters common to the string keys below.
fn check_chars(
    kind: &'static str,
    text: &str,
    min: usize,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    let len = text.chars().count();
    if len < min || len > max {
        return Err(IdError::new(
            kind,
            format!("length must be {min}..={max}, got {len}"),
        ));
    }
    if let Some(bad) = text.chars().find(|c| !allowed(*c)) {
        return Err(IdError::new(
            kind,
            format!("character {bad:?} is not allowed"),
        ));
    }
    Ok(())
}

macro_rules! string_key {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $min:expr, $max:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps the text.
            ///
            /// # Errors
            /// [`IdError`] when the length or a character is not allowed.
            pub fn parse(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                check_chars($kind, &text, $min, $max, $allowed)?;
                Ok($name(text))
            }

            /// The text as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $name::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

fn slug_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

string_key!(
    /// The platform's own id for a merchant (tenant), e.g. `merchant_123`.
    /// Merchants are created by the platform, so their ids are the platform's.
    MerchantId,
    "merchant id",
    1,
    64,
    |c: char| slug_char(c) || matches!(c, '.' | ':')
);
string_key!(
    /// The key in a partner's referral link (`?ref=sarah`).
    ReferralKey,
    "referral key",
    2,
    64,
    slug_char
);
string_key!(
    /// The merchant's own id for a conversion (order id, invoice id, …).
    /// A conversion whose external id was already recorded is a duplicate.
    ExternalId,
    "external id",
    1,
    255,
    |c: char| !c.is_control()
);
string_key!(
    /// The merchant's id for a product (e.g. Stripe's `prod_…`), keying
    /// per-product commission rates.
    ProductId,
    "product id",
    1,
    255,
    |c: char| c.is_ascii_graphic()
);
string_key!(
    /// An idempotency key, as Stripe accepts it: 1 to 255 printable ASCII characters.
    IdempotencyKey,
    "idempotency key",
    1,
    255,
    |c: char| c.is_ascii_graphic()
);
impl IdempotencyKey {
    /// A key built by the domain from values known to be valid.
    pub(crate) fn derived(text: String) -> Self {
        debug_assert!(
            check_chars("idempotency key", &text, 1, 255, |c: char| c
                .is_ascii_graphic())
            .is_ok()
        );
        IdempotencyKey(text)
    }
}

string_key!(
    /// The single-use OAuth `state` token.
    StateToken,
    "OAuth state token",
    16,
    128,
    |c: char| c.is_ascii_alphanumeric() || c == '-'
);
string_key!(
    /// The name of a worker that holds leases on payout items.
    WorkerId,
    "worker id",
    1,
    128,
    |c: char| c.is_ascii_graphic()
);

/// A coupon code such as `SARAH20`. Codes are unique per merchant regardless
/// of case: [`CouponCode::normalized`] is the key uniqueness is checked on,
/// while the code keeps the case it was written in for display.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CouponCode(String);

impl CouponCode {
    /// Validates a code: 3 to 64 letters, digits, `_` or `-`.
    ///
    /// # Errors
    /// [`IdError`] when the length or a character is not allowed.
    pub fn parse(text: impl Into<String>) -> Result<Self, IdError> {
        let text = text.into();
        check_chars("coupon code", &text, 3, 64, slug_char)?;
        Ok(CouponCode(text))
    }

    /// The code as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key: upper case.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_uppercase()
    }

    /// True when both codes are the same ignoring case.
    pub fn same_code(&self, other: &CouponCode) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl TryFrom<String> for CouponCode {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        CouponCode::parse(value)
    }
}

impl From<CouponCode> for String {
    fn from(value: CouponCode) -> Self {
        value.0
    }
}

impl fmt::Display for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CouponCode({:?})", self.0)
    }
}

macro_rules! stripe_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix Stripe gives ids of this kind.
            pub const PREFIX: &'static str = $prefix;

            /// Validates the prefix and the characters after it.
            ///
            /// # Errors
            /// [`IdError`] when the prefix is wrong, the rest is empty, or a
            /// character is not ASCII alphanumeric or `_`.
            pub fn parse(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                let Some(rest) = text.strip_prefix($prefix) else {
                    return Err(IdError::new($kind, format!("must start with `{}`", $prefix)));
                };
                check_chars($kind, rest, 1, 250, |c: char| c.is_ascii_alphanumeric() || c == '_')?;
                Ok($name(text))
            }

            /// The id as Stripe writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                $name::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}

stripe_id!(
    /// A Stripe connected account (`acct_…`): a merchant's or a partner's.
    AccountId,
    "acct_",
    "connected account id"
);
stripe_id!(
    /// A Stripe transfer (`tr_…`).
    TransferId,
    "tr_",
    "transfer id"
);
stripe_id!(
    /// A Stripe transfer reversal (`trr_…`).
    TransferReversalId,
    "trr_",
    "transfer reversal id"
);
stripe_id!(
    /// A Stripe payout to a bank account (`po_…`).
    StripePayoutId,
    "po_",
    "payout id"
);
stripe_id!(
    /// A Stripe payment intent (`pi_…`).
    PaymentIntentId,
    "pi_",
    "payment intent id"
);
stripe_id!(
    /// A Stripe refund (`re_…`).
    RefundId,
    "re_",
    "refund id"
);
stripe_id!(
    /// A Stripe dispute (`dp_…`).
    DisputeId,
    "dp_",
    "dispute id"
);
stripe_id!(
    /// A Stripe promotion code (`promo_…`).
    PromotionCodeId,
    "promo_",
    "promotion code id"
);
stripe_id!(
    /// A Stripe event (`evt_…`).
    EventId,
    "evt_",
    "event id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_ids_check_their_prefix() {
        assert!(AccountId::parse("acct_1234567890").is_ok());
        assert!(AccountId::parse("tr_123").is_err());
        assert!(AccountId::parse("acct_").is_err());
        assert!(AccountId::parse("acct_12 34").is_err());
        assert!(TransferId::parse("tr_1").is_ok());
        assert!(TransferReversalId::parse("trr_1").is_ok());
        assert!(TransferId::parse("trr_1").is_err());
        assert!(StripePayoutId::parse("po_1").is_ok());
        assert!(PaymentIntentId::parse("pi_1").is_ok());
        assert!(RefundId::parse("re_1").is_ok());
        assert!(DisputeId::parse("dp_1").is_ok());
        assert!(PromotionCodeId::parse("promo_1").is_ok());
        assert!(EventId::parse("evt_1").is_ok());
        let err = EventId::parse("event_1").unwrap_err();
        assert!(err.to_string().contains("evt_"));
    }

    #[test]
    fn stripe_ids_deserialize_through_validation() {
        let ok: AccountId = serde_json::from_str("\"acct_9\"").unwrap();
        assert_eq!(ok.as_str(), "acct_9");
        assert!(serde_json::from_str::<AccountId>("\"cus_9\"").is_err());
    }

    #[test]
    fn idempotency_keys_are_at_most_255_characters() {
        assert!(IdempotencyKey::parse("k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
    }

    #[test]
    fn coupon_codes_compare_without_case() {
        let a = CouponCode::parse("Sarah20").unwrap();
        let b = CouponCode::parse("SARAH20").unwrap();
        assert!(a.same_code(&b));
        assert_eq!(a.normalized(), "SARAH20");
        assert_eq!(a.as_str(), "Sarah20");
        assert!(CouponCode::parse("no spaces").is_err());
    }

    #[test]
    fn uuid_ids_round_trip() {
        let id = BatchId::from_uuid(Uuid::nil());
        assert_eq!(BatchId::parse(&id.to_string()).unwrap(), id);
        assert!(BatchId::parse("nope").is_err());
    }
}
