//! `ConversionStore`: conversions (sales and refunds).

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::commission::{Commission, Conversion};
use crate::error::StoreError;
use crate::ids::{ConversionId, ExternalId, MembershipId, MerchantId, ProgramId};
use crate::money::{Currency, Money};
use crate::period::Period;
use crate::reward::PartnerTotals;

/// Conversions.
#[async_trait]
pub trait ConversionStore: Send + Sync {
    /// Inserts a conversion and the commission it earned, atomically.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the merchant already has the external id.
    async fn insert_conversion(
        &self,
        conversion: &Conversion,
        commission: Option<&Commission>,
    ) -> Result<(), StoreError>;

    /// A conversion by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn conversion(&self, id: ConversionId) -> Result<Option<Conversion>, StoreError>;

    /// A merchant's conversion by its external id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn conversion_by_external_id(
        &self,
        merchant: &MerchantId,
        external_id: &ExternalId,
    ) -> Result<Option<Conversion>, StoreError>;

    /// A merchant's conversion by its Stripe payment reference.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn conversion_by_payment_ref(
        &self,
        merchant: &MerchantId,
        payment_ref: &str,
    ) -> Result<Option<Conversion>, StoreError>;

    /// When this customer first bought in the program (their earliest
    /// sale; leads do not count), if ever.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn first_conversion_at(
        &self,
        program: ProgramId,
        customer_ref: &str,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// How many sales (not leads) this customer has in the program.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn customer_sale_count(
        &self,
        program: ProgramId,
        customer_ref: &str,
    ) -> Result<u64, StoreError>;

    /// The partner's finalized totals in the program (the tier basis): the
    /// sales, not cancelled, whose earned commission is finalized, and their
    /// amounts less refunds.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]; [`StoreError::Overflow`] when the sum
    /// does not fit.
    async fn partner_totals(&self, membership: MembershipId) -> Result<PartnerTotals, StoreError>;

    /// Records a new cumulative refund, cancellation flag and correction
    /// (nothing else), if the stored conversion still has `expected`'s
    /// refund, cancellation flag and correction count.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::NotFound`].
    async fn update_conversion(
        &self,
        next: &Conversion,
        expected: &Conversion,
    ) -> Result<(), StoreError>;

    /// The merchant's conversion volume in a period, in `currency`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn monthly_volume(
        &self,
        merchant: &MerchantId,
        period: Period,
        currency: Currency,
    ) -> Result<Money, StoreError>;
}
